/* net/files.c: being written. */
#include "net/net.h"
