//! Every workflow file in `examples/` (applied by the quick start) is valid, and the README's
//! workflow snippet too.

#[test]
fn examples_are_valid_workflows() {
    let dir = weft_testkit::repo_root().join("examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("examples/ exists") {
        let path = entry.expect("entry").path();
        let format = match path.extension().and_then(|e| e.to_str()) {
            Some("yaml" | "yml") => weft_flow::Format::Yaml,
            Some("json") => weft_flow::Format::Json,
            _ => continue,
        };
        let source = std::fs::read_to_string(&path).expect("readable");
        if let Err(e) = weft_flow::parse(&source, format) {
            panic!("{}: {e}", path.display());
        }
        seen += 1;
    }
    assert!(seen >= 3, "expected the example workflows, found {seen}");
}

#[test]
fn readme_workflow_is_valid() {
    let readme =
        std::fs::read_to_string(weft_testkit::repo_root().join("README.md")).expect("README");
    let start = readme.find("```yaml\n").expect("a yaml block") + "```yaml\n".len();
    let block = &readme[start..];
    let yaml = &block[..block.find("```").expect("closed block")];
    if let Err(e) = weft_flow::parse(yaml, weft_flow::Format::Yaml) {
        panic!("README workflow: {e}");
    }
}
