//! How objects look in HTTP answers: field selection, timestamps with an offset, and links.

use chrono::{DateTime, SecondsFormat, Utc};
use magnum_core::baymodel::BayModel;
use serde_json::{Map, Value};

/// ISO 8601 with whole seconds and an explicit offset: `2015-10-19T12:34:56+00:00`.
pub(crate) fn timestamp(at: Option<&DateTime<Utc>>) -> Value {
    at.map_or(Value::Null, |at| {
        Value::String(at.to_rfc3339_opts(SecondsFormat::Secs, false))
    })
}

/// The URL families of one record type (spec/rest-api.md: one table, two URL families).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TemplateFamily {
    /// `/v1/baymodels`, policy `baymodel:*`.
    BayModels,
    /// `/v1/clustertemplates`, policy `clustertemplate:*`.
    ClusterTemplates,
}

impl TemplateFamily {
    /// Collection name in URLs and list bodies.
    pub(crate) fn collection(self) -> &'static str {
        match self {
            TemplateFamily::BayModels => "baymodels",
            TemplateFamily::ClusterTemplates => "clustertemplates",
        }
    }

    /// Policy rule `<prefix>:<action>`.
    pub(crate) fn rule(self, action: &str) -> String {
        let prefix = match self {
            TemplateFamily::BayModels => "baymodel",
            TemplateFamily::ClusterTemplates => "clustertemplate",
        };
        format!("{prefix}:{action}")
    }

    /// The argument name in validation messages.
    pub(crate) fn argument(self) -> &'static str {
        match self {
            TemplateFamily::BayModels => magnum_core::baymodel::BAYMODEL_ARGUMENT,
            TemplateFamily::ClusterTemplates => magnum_core::baymodel::CLUSTER_TEMPLATE_ARGUMENT,
        }
    }

    /// The kind in messages.
    pub(crate) fn kind(self) -> &'static str {
        match self {
            TemplateFamily::BayModels => "BayModel",
            TemplateFamily::ClusterTemplates => "ClusterTemplate",
        }
    }

    /// Fields of a plain list item; `None`: full items.
    fn reduced(self) -> Option<&'static [&'static str]> {
        match self {
            TemplateFamily::BayModels => Some(&[
                "uuid",
                "name",
                "coe",
                "image_id",
                "apiserver_port",
                "registry_enabled",
                "tls_disabled",
                "public",
                "links",
            ]),
            TemplateFamily::ClusterTemplates => None,
        }
    }

    /// Renders a template; `reduced` picks the plain-list fields.
    pub(crate) fn view(self, model: &BayModel, base: &str, reduced: bool) -> Value {
        let mut item = match serde_json::to_value(model) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        };
        item.remove("id");
        item.insert("created_at".into(), timestamp(model.created_at.as_ref()));
        item.insert("updated_at".into(), timestamp(model.updated_at.as_ref()));
        item.insert(
            "links".into(),
            crate::links::links(base, self.collection(), &model.uuid.to_string()),
        );
        if let (true, Some(fields)) = (reduced, self.reduced()) {
            item.retain(|k, _| fields.contains(&k.as_str()));
        }
        Value::Object(item)
    }
}
