//! Replays the fuzz corpora in `fuzz/corpus/<target>/` through the entry points the fuzz
//! targets call (`cargo fuzz run <target>` grows them): every input must be handled without a
//! panic. Bounded: it runs the stored files once, nothing more.

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(target);
    let files = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut inputs = 0;
    for file in files {
        let path = file.unwrap_or_else(|e| panic!("{}: {e}", dir.display())).path();
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // A panic here follows this line, which names the input for `cargo fuzz run <target> <file>`.
        eprintln!("{target}: {}", path.display());
        run(&data);
        inputs += 1;
    }
    assert!(inputs >= 5, "{}: only {inputs} inputs; the corpus is missing", dir.display());
}

#[test]
fn xml_corpus() {
    replay("xml", ferry_http::fuzz::xml);
}

#[test]
fn http_fields_corpus() {
    replay("http_fields", ferry_http::fuzz::http_fields);
}
#[test]
fn aws_chunked_corpus() {
    replay("aws_chunked", ferry_s3::fuzz::aws_chunked);
}

#[test]
fn s3_auth_corpus() {
    replay("s3_auth", ferry_s3::fuzz::auth);
}
#[test]
fn oss_auth_corpus() {
    replay("oss_auth", ferry_oss::fuzz::auth);
}
#[test]
fn us3_auth_corpus() {
    replay("us3_auth", ferry_us3::fuzz::auth);
}
#[test]
fn partition_corpus() {
    replay("partition", ferry_table::fuzz::partition);
}
#[test]
fn tunnel_auth_corpus() {
    replay("tunnel_auth", ferry_tunnel::fuzz::auth);
}

#[test]
fn tunnel_records_corpus() {
    replay("tunnel_records", ferry_tunnel::fuzz::records);
}

#[test]
fn ddl_corpus() {
    replay("ddl", ferry_tunnel::fuzz::ddl);
}
