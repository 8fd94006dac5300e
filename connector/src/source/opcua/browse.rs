//! Browsing a subtree: breadth-first over hierarchical references (Organizes, HasComponent,
//! HasProperty, …), objects and variables, with continuation points, then the data type of every
//! variable. The result is a flat list where each node names its parent, so a caller can mirror it.

use std::collections::HashSet;

use opcua::client::Session;
use opcua::types::{
    AttributeId, BrowseDescription, BrowseDirection, BrowseResult, ByteString, NodeClass, NodeId, QualifiedName,
    ReadValueId, ReferenceTypeId, TimestampsToReturn, Variant,
};

use super::convert::data_type_name;
use super::SourceError;

/// Nodes per Browse request and per Read request.
const CHUNK: usize = 500;

/// What kind of node a browsed node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// A folder or other object: a prim with children.
    Object,
    /// A variable: a value that can be subscribed.
    Variable,
    /// Anything else (only ever the root).
    Other,
}

/// One node of a browsed subtree.
#[derive(Debug, Clone, PartialEq)]
pub struct BrowsedNode {
    /// Node id as text (`ns=2;s=Plant/BIW`), accepted back by `subscribe`.
    pub node_id: String,
    /// The browse name's text, exactly as the server has it (spaces, unicode, duplicates included).
    pub browse_name: String,
    /// The browse name's namespace index.
    pub browse_namespace: u16,
    /// The display name's text.
    pub display_name: String,
    pub kind: NodeKind,
    /// For variables: the data type's name (`Double`, `Int32`, …) or node id.
    pub data_type: Option<String>,
    /// For variables: the value rank (-1 scalar, -2 any, -3 scalar or one dimension, 0 one or more
    /// dimensions, n ≥ 1 exactly n dimensions); `None` when the server did not say.
    pub value_rank: Option<i32>,
    /// Index of the parent in the returned list; `None` for the root (index 0).
    pub parent: Option<usize>,
    /// 0 for the root.
    pub depth: u32,
}

fn kind_of(class: NodeClass) -> NodeKind {
    match class {
        NodeClass::Object => NodeKind::Object,
        NodeClass::Variable => NodeKind::Variable,
        _ => NodeKind::Other,
    }
}

fn read_id(node_id: &NodeId, attribute: AttributeId) -> ReadValueId {
    ReadValueId {
        node_id: node_id.clone(),
        attribute_id: attribute as u32,
        index_range: Default::default(),
        data_encoding: QualifiedName::null(),
    }
}

pub(super) async fn browse_tree(
    session: &Session,
    root: NodeId,
    max_depth: u32,
) -> Result<Vec<BrowsedNode>, SourceError> {
    let err = |node: &NodeId, reason: String| SourceError::Browse { node: node.to_string(), reason };
    let attrs = [AttributeId::BrowseName, AttributeId::DisplayName, AttributeId::NodeClass];
    let reads: Vec<ReadValueId> = attrs.iter().map(|a| read_id(&root, *a)).collect();
    let vals = session.read(&reads, TimestampsToReturn::Neither, 0.0).await.map_err(|e| err(&root, e.to_string()))?;
    let status = vals.get(2).map(|v| v.status()).unwrap_or_default();
    if !status.is_good() {
        return Err(err(&root, format!("the server does not know this node ({status})")));
    }
    let (browse_name, browse_namespace) = match vals.first().and_then(|v| v.value.as_ref()) {
        Some(Variant::QualifiedName(q)) => (q.name.as_ref().to_owned(), q.namespace_index),
        _ => (String::new(), 0),
    };
    let display_name = match vals.get(1).and_then(|v| v.value.as_ref()) {
        Some(Variant::LocalizedText(t)) => t.text.as_ref().to_owned(),
        _ => browse_name.clone(),
    };
    let kind = match vals.get(2).and_then(|v| v.value.as_ref()) {
        Some(Variant::Int32(c)) => kind_of(NodeClass::try_from(*c).unwrap_or(NodeClass::Unspecified)),
        _ => NodeKind::Other,
    };
    let mut nodes = vec![BrowsedNode {
        node_id: root.to_string(),
        browse_name,
        browse_namespace,
        display_name,
        kind,
        data_type: None,
        value_rank: None,
        parent: None,
        depth: 0,
    }];
    let mut ids = vec![root.clone()];
    let mut seen: HashSet<NodeId> = HashSet::from([root]);
    let mut frontier = vec![0usize];
    let mut depth = 0;
    while depth < max_depth && !frontier.is_empty() {
        depth += 1;
        let mut next = Vec::new();
        for chunk in frontier.chunks(CHUNK) {
            let descs: Vec<BrowseDescription> = chunk
                .iter()
                .map(|&i| BrowseDescription {
                    node_id: ids[i].clone(),
                    browse_direction: BrowseDirection::Forward,
                    reference_type_id: ReferenceTypeId::HierarchicalReferences.into(),
                    include_subtypes: true,
                    node_class_mask: NodeClass::Object as u32 | NodeClass::Variable as u32,
                    result_mask: 0x3F,
                })
                .collect();
            let results = session.browse(&descs, 0, None).await.map_err(|e| err(&ids[chunk[0]], e.to_string()))?;
            for (&parent, result) in chunk.iter().zip(results) {
                let mut result: BrowseResult = result;
                loop {
                    if !result.status_code.is_good() {
                        return Err(err(&ids[parent], format!("browse returned {}", result.status_code)));
                    }
                    for r in result.references.take().unwrap_or_default() {
                        if r.node_id.server_index != 0 || !seen.insert(r.node_id.node_id.clone()) {
                            continue;
                        }
                        next.push(nodes.len());
                        ids.push(r.node_id.node_id.clone());
                        nodes.push(BrowsedNode {
                            node_id: r.node_id.node_id.to_string(),
                            browse_name: r.browse_name.name.as_ref().to_owned(),
                            browse_namespace: r.browse_name.namespace_index,
                            display_name: r.display_name.text.as_ref().to_owned(),
                            kind: kind_of(r.node_class),
                            data_type: None,
                            value_rank: None,
                            parent: Some(parent),
                            depth,
                        });
                    }
                    let cp: ByteString = result.continuation_point.clone();
                    if cp.is_null_or_empty() {
                        break;
                    }
                    let more = session.browse_next(false, &[cp]).await.map_err(|e| err(&ids[parent], e.to_string()))?;
                    match more.into_iter().next() {
                        Some(r) => result = r,
                        None => break,
                    }
                }
            }
        }
        frontier = next;
    }
    fill_data_types(session, &mut nodes, &ids).await?;
    Ok(nodes)
}

/// Reads each variable's data type and value rank.
async fn fill_data_types(session: &Session, nodes: &mut [BrowsedNode], ids: &[NodeId]) -> Result<(), SourceError> {
    let vars: Vec<usize> = (0..nodes.len()).filter(|&i| nodes[i].kind == NodeKind::Variable).collect();
    for chunk in vars.chunks(CHUNK / 2) {
        let reads: Vec<ReadValueId> = chunk
            .iter()
            .flat_map(|&i| [read_id(&ids[i], AttributeId::DataType), read_id(&ids[i], AttributeId::ValueRank)])
            .collect();
        let vals = session.read(&reads, TimestampsToReturn::Neither, 0.0).await.map_err(|e| SourceError::Browse {
            node: ids[chunk[0]].to_string(),
            reason: format!("reading data types: {e}"),
        })?;
        for (&i, v) in chunk.iter().zip(vals.chunks(2)) {
            if let Some(Variant::NodeId(t)) = &v[0].value {
                nodes[i].data_type = Some(data_type_name(t));
            }
            if let Some(Variant::Int32(r)) = v.get(1).and_then(|v| v.value.as_ref()) {
                nodes[i].value_rank = Some(*r);
            }
        }
    }
    Ok(())
}
