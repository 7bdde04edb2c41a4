//! The version documents of `GET /` and `GET /v1` (spec/rest-api.md §1.4).

use serde_json::{Value, json};

use crate::microversion;

/// The collections `GET /v1` links to, in the spec's order (nodegroups are added apart: they
/// live under a cluster).
const COLLECTIONS: [&str; 15] = [
    "baymodels",
    "bays",
    "nodes",
    "pods",
    "rcs",
    "services",
    "containers",
    "x509keypairs",
    "certificates",
    "mservices",
    "clustertemplates",
    "clusters",
    "quotas",
    "stats",
    "credentials",
];

/// The version object `V`: id `v1`, status, served range and the `self` link `<base>/v1/`.
fn version_object(base: &str) -> Value {
    json!({
        "id": "v1",
        "status": "CURRENT",
        "min_version": microversion::MIN.to_string(),
        "max_version": microversion::MAX.to_string(),
        "links": [{"href": format!("{base}/v1/"), "rel": "self"}],
    })
}

/// The document of `GET /`: name, description, `versions: [V]` and `default_version: V`.
///
/// `base` is the public root URL without a trailing slash.
pub(crate) fn root_document(base: &str) -> Value {
    json!({
        "name": "OpenStack Magnum API",
        "description": "Magnum is an OpenStack project which aims to provide container cluster \
                        management.",
        "versions": [version_object(base)],
        "default_version": version_object(base),
    })
}

/// The document of `GET /v1`: id, media types, `self` and `describedby` (`doc_url`) links, the
/// version object and a `self`/`bookmark` pair per collection.
///
/// `base` is the public root URL without a trailing slash.
pub(crate) fn v1_document(base: &str, doc_url: &str) -> Value {
    let mut document = json!({
        "id": "v1",
        "media_types": [{
            "base": "application/json",
            "type": "application/vnd.openstack.magnum.v1+json",
        }],
        "links": [
            {"href": format!("{base}/v1/"), "rel": "self"},
            {"href": doc_url, "rel": "describedby", "type": "text/html"},
        ],
        "version": version_object(base),
    });
    if let Value::Object(map) = &mut document {
        for collection in COLLECTIONS {
            map.insert(collection.to_owned(), pair(base, &format!("{collection}/")));
        }
        map.insert(
            "nodegroups".to_owned(),
            pair(base, "clusters/{cluster_id}/nodegroups"),
        );
    }
    document
}

/// `[self <base>/v1/<rest>, bookmark <base>/<rest>]`.
fn pair(base: &str, rest: &str) -> Value {
    json!([
        {"href": format!("{base}/v1/{rest}"), "rel": "self"},
        {"href": format!("{base}/{rest}"), "rel": "bookmark"},
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "http://10.0.0.5:9511";
    const DOC: &str = "https://docs.openstack.org/magnum/latest/";

    fn expected_version() -> Value {
        json!({
            "id": "v1",
            "status": "CURRENT",
            "min_version": "1.1",
            "max_version": "1.10",
            "links": [{"href": "http://10.0.0.5:9511/v1/", "rel": "self"}],
        })
    }

    #[test]
    fn the_root_document_names_the_api_and_its_one_version() {
        assert_eq!(
            root_document(BASE),
            json!({
                "name": "OpenStack Magnum API",
                "description": "Magnum is an OpenStack project which aims to provide container \
                                cluster management.",
                "versions": [expected_version()],
                "default_version": expected_version(),
            })
        );
    }

    #[test]
    fn the_v1_document_has_id_media_types_links_and_version() {
        let doc = v1_document(BASE, DOC);
        assert_eq!(doc["id"], "v1");
        assert_eq!(
            doc["media_types"],
            json!([{"base": "application/json", "type": "application/vnd.openstack.magnum.v1+json"}])
        );
        assert_eq!(
            doc["links"],
            json!([
                {"href": "http://10.0.0.5:9511/v1/", "rel": "self"},
                {"href": DOC, "rel": "describedby", "type": "text/html"},
            ])
        );
        assert_eq!(doc["version"], expected_version());
    }

    #[test]
    fn the_v1_document_links_every_collection_with_self_and_bookmark() {
        let doc = v1_document(BASE, DOC);
        for collection in [
            "baymodels",
            "bays",
            "nodes",
            "pods",
            "rcs",
            "services",
            "containers",
            "x509keypairs",
            "certificates",
            "mservices",
            "clustertemplates",
            "clusters",
            "quotas",
            "stats",
            "credentials",
        ] {
            assert_eq!(
                doc[collection],
                json!([
                    {"href": format!("{BASE}/v1/{collection}/"), "rel": "self"},
                    {"href": format!("{BASE}/{collection}/"), "rel": "bookmark"},
                ]),
                "{collection}"
            );
        }
    }

    #[test]
    fn the_v1_document_links_nodegroups_under_a_cluster_template_path() {
        let doc = v1_document(BASE, DOC);
        assert_eq!(
            doc["nodegroups"][0]["href"],
            "http://10.0.0.5:9511/v1/clusters/{cluster_id}/nodegroups"
        );
        assert_eq!(doc["nodegroups"][0]["rel"], "self");
        assert_eq!(
            doc["nodegroups"][1]["href"],
            "http://10.0.0.5:9511/clusters/{cluster_id}/nodegroups"
        );
        assert_eq!(doc["nodegroups"][1]["rel"], "bookmark");
    }

    #[test]
    fn the_v1_document_has_nothing_else() {
        let doc = v1_document(BASE, DOC);
        let keys = doc.as_object().expect("object").len();
        // id, media_types, links, version, 15 collections and nodegroups.
        assert_eq!(keys, 4 + 15 + 1);
    }
}
