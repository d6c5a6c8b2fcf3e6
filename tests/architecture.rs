//! The module map holds: imports go one way (no module imports one that imports it back),
//! the pure planners stay pure, SLURM's state words are read in one place, and the docs name
//! every module. Read from the source itself, so a new import that breaks the map fails here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source of a file without its `#[cfg(test)]` module (tests may import anything).
fn production_code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// Top-level modules of the library (`pub mod x;` in lib.rs).
fn modules() -> Vec<String> {
    std::fs::read_to_string("src/lib.rs").unwrap().lines().filter_map(|l| l.strip_prefix("pub mod ")?.strip_suffix(';').map(str::to_string)).collect()
}

/// module → modules it names as `crate::<module>`.
fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let modules = modules();
    let mut graph: BTreeMap<String, BTreeSet<String>> = modules.iter().map(|m| (m.clone(), BTreeSet::new())).collect();
    let mut files = Vec::new();
    rust_files(Path::new("src"), &mut files);
    for file in files {
        let relative = file.strip_prefix("src").unwrap();
        let first = relative.components().next().unwrap().as_os_str().to_string_lossy().trim_end_matches(".rs").to_string();
        let Some(imports) = graph.get_mut(&first) else { continue };
        let code = production_code(&file);
        for (at, _) in code.match_indices("crate::") {
            let name: String = code[at + 7..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if name != first && modules.contains(&name) {
                imports.insert(name);
            }
        }
    }
    graph
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let graph = import_graph();
    // Depth-first search for a cycle, reporting its path.
    fn visit(node: &str, graph: &BTreeMap<String, BTreeSet<String>>, path: &mut Vec<String>, done: &mut BTreeSet<String>) {
        if let Some(at) = path.iter().position(|p| p == node) {
            panic!("import cycle: {} -> {node}", path[at..].join(" -> "));
        }
        if done.contains(node) {
            return;
        }
        path.push(node.to_string());
        for next in &graph[node] {
            visit(next, graph, path, done);
        }
        path.pop();
        done.insert(node.to_string());
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        visit(node, &graph, &mut Vec::new(), &mut done);
    }
    assert!(graph["model"].iter().all(|m| m == "night"), "model imports only night: {:?}", graph["model"]);
    assert!(!graph["executor"].contains("config"), "the executor stays below the config: {:?}", graph["executor"]);
}

#[test]
fn the_pure_planners_touch_no_database_executor_filesystem_or_process() {
    for file in ["src/sequencer/plan.rs", "src/sequencer/known.rs", "src/closer/failures.rs", "src/closer/stages.rs"] {
        let code = production_code(Path::new(file));
        for forbidden in ["std::fs", "std::process", "Db", "crate::db::Db", "Executor", "self.db"] {
            let found = code.lines().any(|l| !l.trim_start().starts_with("//") && l.contains(forbidden));
            assert!(!found, "{file} uses {forbidden}");
        }
    }
    for file in ["src/sequencer/plan.rs", "src/closer/failures.rs", "src/closer/stages.rs"] {
        let code = production_code(Path::new(file));
        assert!(!code.contains("crate::db") && !code.contains("crate::executor"), "{file} imports db or executor");
    }
}

#[test]
fn slurm_state_words_are_read_only_by_the_slurm_parser() {
    let mut files = Vec::new();
    rust_files(Path::new("src"), &mut files);
    for file in files.iter().filter(|f| !f.ends_with("executor/slurm.rs")) {
        let code = production_code(file);
        for word in ["COMPLETED", "CANCELLED", "BLOCKED", "PENDING", "RUNNING", "TIMEOUT", "FAILED", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED"] {
            assert!(!code.contains(&format!("\"{word}\"")), "{} spells the state {word} as a string", file.display());
        }
    }
}

/// The backticked module names in a piece of prose (`executor::slurm` counts as `executor`).
fn named_modules(text: &str, modules: &[String]) -> BTreeSet<String> {
    text.split('`').skip(1).step_by(2).map(|name| name.split("::").next().unwrap_or("").to_string()).filter(|n| modules.contains(n)).collect()
}

#[test]
fn architecture_md_says_exactly_what_each_module_imports() {
    let architecture = std::fs::read_to_string("ARCHITECTURE.md").unwrap();
    let modules = modules();
    for (module, imports) in import_graph().into_iter().filter(|(m, _)| m != "cli") {
        let row = architecture.lines().find(|l| l.starts_with(&format!("| `{module}` |"))).unwrap_or_else(|| panic!("no row for {module}"));
        let column = row.trim_end_matches('|').rsplit('|').next().unwrap();
        assert_eq!(named_modules(column, &modules), imports, "ARCHITECTURE.md's imports of {module}");
    }
}

#[test]
fn the_docs_name_every_module() {
    let architecture = std::fs::read_to_string("ARCHITECTURE.md").unwrap();
    let lib = std::fs::read_to_string("src/lib.rs").unwrap();
    for module in modules() {
        assert!(architecture.contains(&format!("| `{module}` |")), "ARCHITECTURE.md's table lacks {module}");
        assert!(lib.contains(&format!("`{module}`")), "lib.rs's module tour lacks {module}");
    }
}
