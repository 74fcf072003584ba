//! Compares a JSON response with the spec's example for it, key by key and
//! type by type.

use std::path::PathBuf;

use serde_json::Value;

/// The directory holding the spec's JSON examples (copied from the spec).
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/spec")
}

/// One of the spec's examples, e.g. `fixture("token-viewer.response.json")`.
pub fn fixture(name: &str) -> Value {
    let path = fixtures_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("fixture {name} is not JSON: {e}"))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Differences between `actual` and the example's shape. Paths listed in
/// `nullable` (e.g. `"data.stage.activeSessionId"`) may also be `null`.
/// Maps whose keys are data (`tags`, `attributes`) are compared as maps of strings.
pub fn shape_diff(actual: &Value, expected: &Value, nullable: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    walk(actual, expected, "", nullable, &mut out);
    out
}

fn is_free_map(path: &str) -> bool {
    path.ends_with("tags") || path.ends_with("attributes")
}

fn walk(actual: &Value, expected: &Value, path: &str, nullable: &[&str], out: &mut Vec<String>) {
    if actual.is_null() && nullable.contains(&path) {
        return;
    }
    if expected.is_null() && nullable.contains(&path) && actual.is_string() {
        return;
    }
    if kind(actual) != kind(expected) {
        out.push(format!(
            "{path}: expected {}, got {} ({actual})",
            kind(expected),
            kind(actual)
        ));
        return;
    }
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) if is_free_map(path) => {
            for (k, v) in a {
                if !v.is_string() {
                    out.push(format!("{path}.{k}: map values must be strings"));
                }
            }
            let _ = e;
        }
        (Value::Object(a), Value::Object(e)) => {
            for k in e.keys() {
                if !a.contains_key(k) {
                    out.push(format!("{path}.{k}: missing"));
                }
            }
            for k in a.keys() {
                if !e.contains_key(k) {
                    out.push(format!("{path}.{k}: not in the spec's example"));
                }
            }
            for (k, ev) in e {
                if let Some(av) = a.get(k) {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(av, ev, &p, nullable, out);
                }
            }
        }
        (Value::Array(a), Value::Array(e)) => {
            if let Some(template) = e.first() {
                for (i, item) in a.iter().enumerate() {
                    // Heterogeneous examples (stage lists): match any template.
                    let fits = e.iter().any(|t| {
                        let mut d = Vec::new();
                        walk(item, t, &format!("{path}[]"), nullable, &mut d);
                        d.is_empty()
                    });
                    if !fits {
                        walk(item, template, &format!("{path}[{i}]"), nullable, out);
                    }
                }
            }
        }
        _ => {}
    }
}

/// Panics with every difference if `actual` does not have the example's shape.
pub fn assert_shape(actual: &Value, example: &str, nullable: &[&str]) {
    let expected = fixture(example);
    let diff = shape_diff(actual, &expected, nullable);
    assert!(
        diff.is_empty(),
        "response does not match {example}:\n  {}\nactual: {actual:#}",
        diff.join("\n  ")
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn detects_missing_extra_and_wrong_types() {
        let expected = json!({"a": 1, "b": "x", "c": [{"d": true}], "tags": {"k": "v"}});
        assert!(shape_diff(
            &json!({"a": 2, "b": "y", "c": [], "tags": {}}),
            &expected,
            &[]
        )
        .is_empty());
        assert_eq!(
            shape_diff(&json!({"a": 2, "b": "y", "c": []}), &expected, &[]).len(),
            1
        );
        assert_eq!(
            shape_diff(
                &json!({"a": "2", "b": "y", "c": [], "tags": {}, "z": 1}),
                &expected,
                &[]
            )
            .len(),
            2
        );
        assert_eq!(
            shape_diff(
                &json!({"a": 1, "b": "y", "c": [{"d": 1}], "tags": {}}),
                &expected,
                &[]
            )
            .len(),
            1
        );
        assert!(shape_diff(
            &json!({"a": 1, "b": null, "c": [], "tags": {}}),
            &expected,
            &["b"]
        )
        .is_empty());
        assert_eq!(
            shape_diff(
                &json!({"a": 1, "b": null, "c": [], "tags": {}}),
                &expected,
                &[]
            )
            .len(),
            1
        );
    }
}
