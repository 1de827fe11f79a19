/* CGI cold-start context for scripts/bench: a C program that starts and exits. Built twice, plain and linked
 * with libcurl (-Wl,--no-as-needed -lcurl), to show what loading libcurl and the libraries it depends on costs
 * every process that uses URLSession on Linux, before any code of its own runs. */
int main(void) { return 0; }
