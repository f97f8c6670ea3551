// Linked into every program of the sanitizer build only (CTNET_SANITIZE). The runtimes read these defaults
// before main, so a finding fails the run however the program was started: a test, a CNI runtime with its own
// environment, `nsenter ... ctnet`. ASAN_OPTIONS / UBSAN_OPTIONS still override them.
// abort_on_error: a finding kills the program with SIGABRT, never an ordinary exit code a test might expect
// (a CNI error exits 1 too). Reports go to stderr, so a plugin's stdout stays the spec's JSON.
extern "C" const char* __asan_default_options() {
  return "halt_on_error=1:abort_on_error=1:detect_leaks=1:print_stacktrace=1:strict_string_checks=1:"
         "detect_stack_use_after_return=1:check_initialization_order=1";
}
extern "C" const char* __ubsan_default_options() { return "halt_on_error=1:abort_on_error=1:print_stacktrace=1"; }
extern "C" const char* __lsan_default_options() { return "print_suppressions=0"; }
