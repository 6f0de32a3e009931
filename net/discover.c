/* net/discover.c: being written. */
#include "net/net.h"
