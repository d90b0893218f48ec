//! The sandboxed runner as its own binary (tests; hosts that prefer it to `weft __code-runner`).
fn main() {
    weft_exec_code::runner::main()
}
