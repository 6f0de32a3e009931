/* engine/pack.c: placeholder, being written. */
