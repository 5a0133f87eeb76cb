// mimalloc: the checker builds a large AST and IR in short-lived processes, where glibc's
// allocator spends a fifth of `check` in malloc and page faults.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    etcdflow::run(std::env::args_os())
}
