//! Schema invariants: the two migration folders stay in step, and the live tables of both
//! backends have the columns `src/db/schema.rs` declares.

mod common;

use std::collections::BTreeSet;

use diesel::prelude::*;

fn folders(backend: &str) -> BTreeSet<String> {
    std::fs::read_dir(format!("sql/{backend}")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
}

#[test]
fn both_backends_have_the_same_migrations() {
    assert_eq!(folders("mysql"), folders("sqlite"));
    for folder in folders("mysql") {
        for backend in ["mysql", "sqlite"] {
            for file in ["up.sql", "down.sql"] {
                assert!(std::path::Path::new(&format!("sql/{backend}/{folder}/{file}")).is_file(), "sql/{backend}/{folder}/{file} missing");
            }
        }
    }
}

fn create_table_names(backend: &str) -> Vec<String> {
    let mut names = Vec::new();
    for folder in folders(backend) {
        let text = std::fs::read_to_string(format!("sql/{backend}/{folder}/up.sql")).unwrap();
        names.extend(text.lines().filter_map(|l| l.strip_prefix("CREATE TABLE ")).map(|l| l.trim_end_matches(" (").to_string()));
        // SQLite rebuilds a table to change its key: the new one takes the old name.
        for renamed in text.lines().filter_map(|l| l.strip_prefix("ALTER TABLE ")?.split_once(" RENAME TO ")) {
            names.retain(|n| n != renamed.0);
        }
    }
    names.sort();
    names
}

#[test]
fn both_backends_create_the_same_tables() {
    let mysql = create_table_names("mysql");
    assert_eq!(mysql, create_table_names("sqlite"));
    for table in [
        "nights",
        "runs",
        "sequences",
        "jobs",
        "tasks",
        "history",
        "outputs",
        "prov_activities",
        "prov_entities",
        "prov_used",
        "prov_generated",
        "prov_agents",
        "prov_associations",
        "prov_parameters",
        "audit_log",
        "daemon_lease",
    ] {
        assert!(mysql.iter().any(|t| t == table), "table {table} missing");
    }
}

#[derive(QueryableByName)]
struct Column {
    #[diesel(sql_type = diesel::sql_types::Text)]
    table_name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    column_name: String,
}

#[test]
fn live_mysql_columns_match_the_migrations() {
    let t = common::TestDb::mysql();
    t.open();
    let mut admin = common::mysql_admin();
    let columns: Vec<Column> = diesel::sql_query(format!(
        "SELECT CAST(table_name AS CHAR) AS table_name, CAST(column_name AS CHAR) AS column_name FROM information_schema.columns WHERE table_schema = '{}' AND table_name <> '__diesel_schema_migrations'",
        t.database_name().unwrap()
    ))
    .load(&mut admin)
    .unwrap();
    let live: BTreeSet<(String, String)> = columns.into_iter().map(|c| (c.table_name, c.column_name)).collect();
    let schema = std::fs::read_to_string("src/db/schema.rs").unwrap();
    let mut declared = BTreeSet::new();
    let mut table = String::new();
    for line in schema.lines().map(str::trim) {
        if let Some(rest) = line.strip_suffix('{').and_then(|l| l.split_once(" (")) {
            table = rest.0.to_string();
        } else if let Some((column, _)) = line.split_once(" -> ") {
            declared.insert((table.clone(), column.to_string()));
        }
    }
    assert_eq!(live, declared);
}
