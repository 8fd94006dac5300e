//! The attributes a shop writer owns: each one's interned handle, value type and path, with every prim path
//! and attribute name stored once. A plant's signals share prims (a robot's joints) and names (`j1`…`j6`),
//! so 100,000 full path strings (about 60 B each plus their allocations) shrink to two small tables and
//! 8 bytes per attribute; paths are rebuilt as `prim.name` only where they are written out.

use std::collections::HashMap;
use std::fmt;

use serde::{Serialize, Serializer};
use twinloom_usd::{AttrHandle, ValueType};

/// One attribute of a shop's live layer.
#[derive(Debug, Clone, Copy)]
pub struct WriterAttr {
    pub handle: AttrHandle,
    pub value_type: ValueType,
    prim: u32,
    name: u32,
}

/// A shop's attributes in handle order, with their prim paths and names interned.
#[derive(Default)]
pub struct ShopAttrs {
    list: Vec<WriterAttr>,
    prims: Vec<Box<str>>,
    names: Vec<Box<str>>,
    /// Lookups while attributes are added; dropped by [`ShopAttrs::finish`].
    prim_index: HashMap<Box<str>, u32>,
    name_index: HashMap<Box<str>, u32>,
}

/// An attribute path `prim.name`, written without building the string (serialises as a JSON string).
#[derive(Debug, Clone, Copy)]
pub struct AttrPath<'a> {
    pub prim: &'a str,
    pub name: &'a str,
}

impl fmt::Display for AttrPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.prim, self.name)
    }
}

impl Serialize for AttrPath<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

fn intern(table: &mut Vec<Box<str>>, index: &mut HashMap<Box<str>, u32>, text: &str) -> u32 {
    if let Some(&i) = index.get(text) {
        return i;
    }
    let i = table.len() as u32;
    table.push(text.into());
    index.insert(text.into(), i);
    i
}

impl ShopAttrs {
    /// Adds an attribute (in handle order).
    pub fn push(&mut self, handle: AttrHandle, prim: &str, name: &str, value_type: ValueType) {
        let prim = intern(&mut self.prims, &mut self.prim_index, prim);
        let name = intern(&mut self.names, &mut self.name_index, name);
        self.list.push(WriterAttr { handle, value_type, prim, name });
    }

    /// Drops the lookup tables and spare capacity once every attribute is added (held for the whole run).
    pub fn finish(&mut self) {
        self.prim_index = HashMap::new();
        self.name_index = HashMap::new();
        self.list.shrink_to_fit();
        self.prims.shrink_to_fit();
        self.names.shrink_to_fit();
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// The attribute at `i` (its position in the shop, the twin's local index).
    pub fn get(&self, i: usize) -> &WriterAttr {
        &self.list[i]
    }

    pub fn iter(&self) -> impl Iterator<Item = &WriterAttr> {
        self.list.iter()
    }

    /// The path of an attribute of this shop.
    pub fn path(&self, a: &WriterAttr) -> AttrPath<'_> {
        AttrPath { prim: &self.prims[a.prim as usize], name: &self.names[a.name as usize] }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use twinloom_usd::{Layer, LayerWriter};

    #[test]
    fn paths_are_rebuilt_from_shared_prims_and_names() {
        let mut w = LayerWriter::new(Layer::create_anonymous("t", "usda").unwrap());
        let mut attrs = ShopAttrs::default();
        for (prim, name) in [("/Plant/R1", "j1"), ("/Plant/R1", "j2"), ("/Plant/R2", "j1"), ("/Plant/R2 \"x\"", "j2")] {
            let h = w.intern("/Plant/R1", &format!("a{}", attrs.len()), ValueType::Double).unwrap();
            attrs.push(h, prim, name, ValueType::Double);
        }
        attrs.finish();
        assert_eq!((attrs.prims.len(), attrs.names.len()), (3, 2));
        let paths: Vec<String> = attrs.iter().map(|a| attrs.path(a).to_string()).collect();
        assert_eq!(paths, ["/Plant/R1.j1", "/Plant/R1.j2", "/Plant/R2.j1", "/Plant/R2 \"x\".j2"]);
        assert_eq!(serde_json::to_string(&attrs.path(attrs.get(3))).unwrap(), r#""/Plant/R2 \"x\".j2""#);
    }
}
