/* tests/check_pack.c: placeholder, being written. */
int main(void) { return 0; }
