/* tests/check_sock.c: placeholder, being written. */
int main(void) { return 0; }
