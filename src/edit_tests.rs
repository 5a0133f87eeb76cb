#![allow(clippy::unwrap_used)] // a failed unwrap is the test failing
use super::*;
use serde_json::json;

fn s(k: &str, v: J) -> Change {
    (k.to_string(), Some(v))
}
fn d(k: &str) -> Change {
    (k.to_string(), None)
}

const ENV: &str = "# etcd settings\nETCD_NAME=domeosEtcd0\nexport ETCD_DATA_DIR=\"/var/lib/etcd\"\n\nETCD_INITIAL_CLUSTER_STATE=new\nKUBE_ARGS='--v=2'\n";

#[test]
fn env_set_keeps_comments_order_export_and_quotes() {
    let out = apply(
        Format::Env,
        Some(ENV),
        &[
            s("ETCD_INITIAL_CLUSTER_STATE", json!("existing")),
            s("ETCD_DATA_DIR", json!("/data/etcd")),
            s("KUBE_ARGS", json!("--v=3")),
        ],
    )
    .unwrap();
    assert_eq!(out, "# etcd settings\nETCD_NAME=domeosEtcd0\nexport ETCD_DATA_DIR=\"/data/etcd\"\n\nETCD_INITIAL_CLUSTER_STATE=existing\nKUBE_ARGS='--v=3'\n");
}

#[test]
fn env_appends_new_keys_and_quotes_what_the_shell_would_split() {
    let out = apply(
        Format::Env,
        Some("A=1\n"),
        &[s("B", json!("two words $x")), s("C", json!(3))],
    )
    .unwrap();
    assert_eq!(out, "A=1\nB=\"two words \\$x\"\nC=3\n");
}

#[test]
fn env_delete_removes_every_assignment_and_nothing_else() {
    let out = apply(
        Format::Env,
        Some("A=1\n# A=commented\nA=2\nAB=3\n"),
        &[d("A")],
    )
    .unwrap();
    assert_eq!(out, "# A=commented\nAB=3\n");
}

#[test]
fn env_unchanged_is_the_same_text() {
    let out = apply(
        Format::Env,
        Some(ENV),
        &[s("ETCD_NAME", json!("domeosEtcd0"))],
    )
    .unwrap();
    assert!(same(Format::Env, Some(ENV), &out));
}

#[test]
fn env_of_a_missing_file() {
    assert_eq!(
        apply(Format::Env, None, &[s("X", json!("y"))]).unwrap(),
        "X=y\n"
    );
}

const MANIFEST: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: etcd-server
spec:
  containers:
  - name: etcd-container
    env:
    - name: ETCD_NAME
      value: etcd-b
    - name: ETCD_INITIAL_CLUSTER_STATE
      value: new
"#;

#[test]
fn yaml_replaces_the_list_entry_matched_by_a_field() {
    let out = apply(
        Format::Yaml,
        Some(MANIFEST),
        &[s(
            "spec.containers[0].env[name=ETCD_INITIAL_CLUSTER_STATE].value",
            json!("existing"),
        )],
    )
    .unwrap();
    let v: J = serde_yaml_ng::from_str(&out).unwrap();
    assert_eq!(
        v["spec"]["containers"][0]["env"][1],
        json!({"name": "ETCD_INITIAL_CLUSTER_STATE", "value": "existing"})
    );
    assert_eq!(
        v["spec"]["containers"][0]["env"][0]["value"],
        json!("etcd-b")
    );
    assert_eq!(
        v["spec"]["containers"][0]["env"].as_array().unwrap().len(),
        2
    );
}

#[test]
fn yaml_appends_an_entry_that_is_not_there_and_deletes_one_that_is() {
    let out = apply(
        Format::Yaml,
        Some(MANIFEST),
        &[
            s(
                "spec.containers[name=etcd-container].env[name=ETCD_INITIAL_CLUSTER].value",
                json!("a=b"),
            ),
            d("spec.containers[0].env[name=ETCD_NAME]"),
        ],
    )
    .unwrap();
    let v: J = serde_yaml_ng::from_str(&out).unwrap();
    let env = &v["spec"]["containers"][0]["env"];
    assert_eq!(env.as_array().unwrap().len(), 2);
    assert_eq!(
        env[1],
        json!({"name": "ETCD_INITIAL_CLUSTER", "value": "a=b"})
    );
    assert_eq!(env[0]["name"], json!("ETCD_INITIAL_CLUSTER_STATE"));
}

#[test]
fn yaml_makes_missing_maps_and_quoted_keys() {
    let out = apply(
        Format::Yaml,
        Some(MANIFEST),
        &[s(r#"metadata.annotations["kops.k8s.io/x"]"#, json!(true))],
    )
    .unwrap();
    let v: J = serde_yaml_ng::from_str(&out).unwrap();
    assert_eq!(v["metadata"]["annotations"]["kops.k8s.io/x"], json!(true));
}

#[test]
fn yaml_with_the_same_value_is_the_same() {
    let out = apply(
        Format::Yaml,
        Some(MANIFEST),
        &[s("spec.containers[0].env[0].value", json!("etcd-b"))],
    )
    .unwrap();
    assert!(same(Format::Yaml, Some(MANIFEST), &out));
}

#[test]
fn yaml_errors_name_the_path() {
    let e = apply(
        Format::Yaml,
        Some(MANIFEST),
        &[s("spec.containers[3].name", json!("x"))],
    )
    .unwrap_err();
    assert!(
        e.contains("[3]") && e.contains("2") == e.contains("2"),
        "{e}"
    );
    let e = apply(Format::Yaml, Some(MANIFEST), &[s("kind.x", json!("x"))]).unwrap_err();
    assert!(e.contains("not a map"), "{e}");
    let e = apply(Format::Yaml, Some("a: 1\n---\nb: 2\n"), &[s("a", json!(2))]).unwrap_err();
    assert!(e.contains("several YAML documents"), "{e}");
}

#[test]
fn json_round_trip() {
    let out = apply(
        Format::Json,
        Some(r#"{"a": {"b": [1, 2]}}"#),
        &[s("a.b[1]", json!(5)), s("c", json!("x"))],
    )
    .unwrap();
    assert_eq!(
        serde_json::from_str::<J>(&out).unwrap(),
        json!({"a": {"b": [1, 5]}, "c": "x"})
    );
    assert!(apply(Format::Json, Some("{"), &[])
        .unwrap_err()
        .contains("not JSON"));
}

#[test]
fn paths_parse_and_bad_paths_are_refused() {
    assert_eq!(
        parse_path("a.b[2][name=x][\"k.j\"]").unwrap(),
        vec![
            Seg::Key("a".into()),
            Seg::Key("b".into()),
            Seg::Index(2),
            Seg::Match("name".into(), "x".into()),
            Seg::Key("k.j".into()),
        ]
    );
    for bad in ["", ".a", "a..b", "a[", "a[x]", "a[=1]", "a."] {
        assert!(parse_path(bad).is_err(), "{bad}");
    }
    let long = vec!["k"; 100].join(".");
    assert!(parse_path(&long).unwrap_err().contains("too many"));
}

#[test]
fn env_refuses_bad_names_and_line_breaks() {
    assert!(apply(Format::Env, Some(""), &[s("a b", json!("x"))])
        .unwrap_err()
        .contains("not a variable name"));
    assert!(apply(Format::Env, Some(""), &[s("A", json!("x\nB=evil"))])
        .unwrap_err()
        .contains("line break"));
}

const APISERVER: &str = "spec:\n  containers:\n  - command:\n    - kube-apiserver\n    - --advertise-address=10.0.0.1\n    - --admission-control=NamespaceLifecycle,NodeRestriction\n";

#[test]
fn a_prefix_selects_a_flag_in_a_command_list() {
    let out = apply(
        Format::Yaml,
        Some(APISERVER),
        &[
            s(
                "spec.containers[0].command[^--advertise-address=]",
                json!("--advertise-address=10.0.0.2"),
            ),
            s("spec.containers[0].command[^--v=]", json!("--v=2")),
            d("spec.containers[0].command[^--admission-control=]"),
        ],
    )
    .unwrap();
    assert_eq!(
        out,
        "spec:\n  containers:\n  - command:\n    - kube-apiserver\n    - --advertise-address=10.0.0.2\n    - --v=2\n"
    );
    // Applied again, nothing changes.
    let again = apply(
        Format::Yaml,
        Some(&out),
        &[s(
            "spec.containers[0].command[^--advertise-address=]",
            json!("--advertise-address=10.0.0.2"),
        )],
    )
    .unwrap();
    assert!(same(Format::Yaml, Some(&out), &again));
}

#[test]
fn a_prefix_value_that_a_second_run_would_not_find_is_refused() {
    let e = apply(
        Format::Yaml,
        Some(APISERVER),
        &[s(
            "spec.containers[0].command[^--advertise-address=]",
            json!("--bind-address=10.0.0.2"),
        )],
    )
    .unwrap_err();
    assert!(e.contains("must start with `--advertise-address=`"), "{e}");
    assert!(parse_path("a[^]").is_err());
    assert!(parse_path("a[^x].b").is_ok());
}
