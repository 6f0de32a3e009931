/* net/zip.c: being written. */
#include "net/net.h"
