/* tests/check_chan.c: placeholder, being written. */
int main(void) { return 0; }
