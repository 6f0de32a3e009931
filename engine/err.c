/* engine/err.c: error names. Errors are negative errno values; ac_strerror
 * gives the C library's text for them. (The assertion handler lives in
 * io/io_assert.c, the lowest layer, shared by every layer.) */
#include "engine/engine.h"

const char *ac_strerror(int err)
{
	if (err == 0)
		return "success";
	if (err > 0)
		return "not an error";
	switch (-err) {
	case ETIMEDOUT:
		return "timed out";
	case ESRCH:
		return "no such coroutine or object (it has ended)";
	case EHOSTUNREACH:
		return "unknown or unreachable node";
	case EREMOTE:
		return "object is on another node";
	case EPERM:
		return "not allowed here (outside a coroutine, or not the owner)";
	default:
		return strerror(-err);
	}
}
