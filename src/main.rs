fn main() -> std::process::ExitCode {
    etcdflow::run(std::env::args_os())
}
