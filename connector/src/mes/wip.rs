//! The work-in-process model: which cars are in work in which shop, where each is, what went into it;
//! pure state with no I/O. [`Wip::apply`] takes one parsed message and either changes the state and
//! returns the layer edits that show the change, or refuses it with a [`Reject`] (duplicate, out of
//! order, unknown or finished VIN, unknown station) and changes nothing. The rules are docs/mes.md's.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{Hash, Hasher};

use twinloom_usd::{Layer, Value};
use twinloom_usd_names::valid_prim_name;
use twinloom_usd_schemas::{attr, schema};

use super::config::{MesConfig, Resolver, Station};
use super::edit::Edit;
use super::message::{Body, EventKind, JobOrder, MaterialActual, Message, OperationsEvent, Reason};

/// The WIP container under a shop prim, and the genealogy scope under a car.
pub const WIP: &str = "WIP";
pub const GENEALOGY: &str = "Genealogy";

/// A message the model did not apply: why, the message field it concerns when there is one, and what.
#[derive(Debug, Clone, PartialEq)]
pub struct Reject {
    pub reason: Reason,
    pub field: Option<&'static str>,
    pub detail: String,
}

fn reject(reason: Reason, field: Option<&'static str>, detail: String) -> Reject {
    Reject { reason, field, detail }
}

/// One car in work.
#[derive(Debug, Clone, PartialEq)]
pub struct Car {
    pub vin: String,
    /// The shop prim (`/Plant/Assembly`).
    pub shop: String,
    /// The car's prim (`/Plant/Assembly/WIP/<VIN>`).
    pub prim: String,
    pub order_id: String,
    pub model: String,
    pub variant: String,
    pub options: Vec<String>,
    pub sequence: i64,
    pub released_at_ms: i64,
    /// The station prim the car is in now.
    pub station: Option<String>,
    pub entered_at_ms: i64,
    pub last_event_ms: i64,
    pub last_operation: String,
    pub last_result: String,
    pub genealogy: Vec<Part>,
}

/// One entry of a car's genealogy.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    /// The child prim's name under `Genealogy`.
    pub name: String,
    pub part_number: String,
    pub lot: String,
    pub serial: String,
    pub quantity: f64,
    pub unit: String,
    pub equipment: String,
    pub station: String,
    pub at_ms: i64,
}

/// A bounded set of recent keys: the oldest goes when it is full.
#[derive(Debug)]
struct Recent {
    set: HashSet<u64>,
    order: VecDeque<u64>,
    cap: usize,
}

impl Recent {
    fn new(cap: usize) -> Recent {
        Recent { set: HashSet::new(), order: VecDeque::new(), cap: cap.max(1) }
    }
    fn contains(&self, k: u64) -> bool {
        self.set.contains(&k)
    }
    fn insert(&mut self, k: u64) {
        if !self.set.insert(k) {
            return;
        }
        self.order.push_back(k);
        while self.order.len() > self.cap {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
    }
}

/// A message id as a 64-bit key (the dedup window keeps keys, not strings).
fn id_key(id: &str) -> u64 {
    let mut h = DefaultHasher::new();
    id.hash(&mut h);
    h.finish()
}

/// The WIP of every shop.
#[derive(Debug)]
pub struct Wip {
    r: Resolver,
    cars: HashMap<String, Car>,
    /// Station prim → the VIN it holds.
    stations: HashMap<String, String>,
    /// Station prims with an `over` in the layer.
    touched: HashSet<String>,
    /// Shop prims whose WIP scope is defined.
    wip_scopes: HashSet<String>,
    seen: Recent,
    /// Cars that left their shop: VIN → when.
    finished: HashMap<String, i64>,
    finished_order: VecDeque<(String, i64)>,
    finished_cap: usize,
}

impl Wip {
    /// An empty WIP for a stage whose root prim is `/<root>`.
    pub fn new(root: &str, cfg: &MesConfig) -> Wip {
        Wip {
            r: Resolver::new(root, cfg),
            cars: HashMap::new(),
            stations: HashMap::new(),
            touched: HashSet::new(),
            wip_scopes: HashSet::new(),
            seen: Recent::new(cfg.dedup_window),
            finished: HashMap::new(),
            finished_order: VecDeque::new(),
            finished_cap: cfg.finished_window.max(1),
        }
    }

    /// The car with this VIN, if it is in work.
    pub fn car(&self, vin: &str) -> Option<&Car> {
        self.cars.get(vin)
    }

    /// Every car in work, in no particular order.
    pub fn cars(&self) -> impl Iterator<Item = &Car> {
        self.cars.values()
    }

    /// How many cars are in work.
    pub fn len(&self) -> usize {
        self.cars.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cars.is_empty()
    }

    /// The VIN the station prim holds, if any.
    pub fn station_vin(&self, station_prim: &str) -> Option<&str> {
        self.stations.get(station_prim).map(String::as_str)
    }

    /// Whether the car left its shop recently (within `finished_window` cars).
    pub fn is_finished(&self, vin: &str) -> bool {
        self.finished.contains_key(vin)
    }

    /// Applies one message; on success returns its edits (possibly none, e.g. a car entering the station
    /// it is in). A refused message changes nothing and is not remembered as seen.
    pub fn apply(&mut self, msg: &Message) -> Result<Vec<Edit>, Reject> {
        let mut edits = Vec::new();
        self.apply_into(msg, &mut edits)?;
        Ok(edits)
    }

    /// [`Wip::apply`], appending the edits to `edits`.
    pub fn apply_into(&mut self, msg: &Message, edits: &mut Vec<Edit>) -> Result<(), Reject> {
        let key = id_key(&msg.id);
        if self.seen.contains(key) {
            return Err(reject(
                Reason::Duplicate,
                Some("messageId"),
                format!("message {:?} was applied already", msg.id),
            ));
        }
        match &msg.body {
            Body::JobOrder(o) => self.job_order(o, msg.at_ms, edits)?,
            Body::Operations(e) => self.operations(e, msg.at_ms, edits)?,
            Body::Material(m) => self.material(m, msg.at_ms, edits)?,
        }
        self.seen.insert(key);
        Ok(())
    }

    fn not_in_work(&self, vin: &str) -> Reject {
        if let Some(at) = self.finished.get(vin) {
            reject(Reason::FinishedVin, Some("VIN"), format!("car {vin} left its shop at {at} ms"))
        } else {
            reject(Reason::UnknownVin, Some("VIN"), format!("no job order for VIN {vin}"))
        }
    }

    fn job_order(&mut self, o: &JobOrder, at: i64, edits: &mut Vec<Edit>) -> Result<(), Reject> {
        let scope = match (&o.scope, &self.r.default_shop) {
            (Some(s), _) | (None, Some(s)) => s.clone(),
            (None, None) => {
                return Err(reject(
                    Reason::MissingField,
                    Some("HierarchyScope"),
                    "missing field HierarchyScope (the shop; no mes.default_shop is configured)".into(),
                ))
            }
        };
        let shop = self.r.shop(&scope);
        if let Some(car) = self.cars.get(&o.vin) {
            if at < car.released_at_ms {
                return Err(reject(
                    Reason::OutOfOrder,
                    Some("timestamp"),
                    format!("job order at {at} ms is older than the applied one at {} ms", car.released_at_ms),
                ));
            }
            let moved = car.shop != shop;
            {
                let car = self.cars.get_mut(&o.vin).expect("checked above");
                car.order_id.clone_from(&o.order_id);
                car.model.clone_from(&o.model);
                car.variant.clone_from(&o.variant);
                car.options.clone_from(&o.options);
                car.sequence = o.sequence;
                car.released_at_ms = at;
            }
            if moved {
                self.move_car(&o.vin, &shop, edits);
                return Ok(());
            }
            let car = &self.cars[&o.vin];
            let p = &car.prim;
            edits.push(Edit::set_string(p, attr::WIP_ORDER_ID, &car.order_id));
            edits.push(Edit::set_string(p, attr::WIP_MODEL, &car.model));
            edits.push(Edit::set_string(p, attr::WIP_VARIANT, &car.variant));
            edits.push(Edit::set_strings(p, attr::WIP_OPTIONS, &car.options));
            edits.push(Edit::set_i64(p, attr::WIP_SEQUENCE, car.sequence));
            edits.push(Edit::set_i64(p, attr::WIP_RELEASED_AT_MS, at));
            if let Some(st) = &car.station {
                edits.push(Edit::set_string(st, attr::CURRENT_ORDER, &car.order_id));
            }
            return Ok(());
        }
        if let Some(&left) = self.finished.get(&o.vin) {
            if at <= left {
                return Err(reject(
                    Reason::FinishedVin,
                    Some("timestamp"),
                    format!("car {} left its shop at {left} ms, after this job order ({at} ms)", o.vin),
                ));
            }
            self.finished.remove(&o.vin);
        }
        let car = Car {
            vin: o.vin.clone(),
            prim: car_prim(&shop, &o.vin),
            shop: shop.clone(),
            order_id: o.order_id.clone(),
            model: o.model.clone(),
            variant: o.variant.clone(),
            options: o.options.clone(),
            sequence: o.sequence,
            released_at_ms: at,
            station: None,
            entered_at_ms: 0,
            last_event_ms: 0,
            last_operation: String::new(),
            last_result: String::new(),
            genealogy: Vec::new(),
        };
        self.ensure_wip_scope(&shop, edits);
        car_edits(&car, edits);
        self.cars.insert(o.vin.clone(), car);
        Ok(())
    }

    fn operations(&mut self, e: &OperationsEvent, at: i64, edits: &mut Vec<Edit>) -> Result<(), Reject> {
        let Some(car) = self.cars.get(&e.vin) else { return Err(self.not_in_work(&e.vin)) };
        if at < car.last_event_ms {
            return Err(reject(
                Reason::OutOfOrder,
                Some("timestamp"),
                format!(
                    "{} event at {at} ms is older than the last one applied to {} ({} ms)",
                    e.event.as_str(),
                    e.vin,
                    car.last_event_ms
                ),
            ));
        }
        let car_shop = car.shop.clone();
        let car_station = car.station.clone();
        let station = match &e.equipment {
            Some(eq) => Some(self.resolve_station(eq, &car_shop)?),
            None => None,
        };
        let vin = e.vin.as_str();
        match (e.event, station) {
            (EventKind::Entered, Some(st)) => {
                if st.shop != car_shop {
                    self.move_car(vin, &st.shop, edits);
                }
                self.enter(vin, &st.prim, at, edits);
            }
            (EventKind::Left, Some(st)) => {
                let here = car_station.as_deref() == Some(st.prim.as_str());
                if here {
                    self.release_car_station(vin, edits);
                }
                if st.exit && st.shop == car_shop {
                    self.leave_shop(vin, at, edits);
                    return Ok(());
                }
            }
            (EventKind::Completed, _) => {
                let car = self.cars.get_mut(vin).expect("checked above");
                car.last_operation.clone_from(&e.operation);
                car.last_result.clone_from(&e.result);
                edits.push(Edit::set_string(&car.prim, attr::WIP_LAST_OPERATION, &e.operation));
                edits.push(Edit::set_string(&car.prim, attr::WIP_LAST_RESULT, &e.result));
            }
            (EventKind::LeftShop, _) => {
                self.leave_shop(vin, at, edits);
                return Ok(());
            }
            // The parser refuses entered/left without EquipmentID.
            (EventKind::Entered | EventKind::Left, None) => {}
        }
        let car = self.cars.get_mut(vin).expect("still in work");
        car.last_event_ms = at;
        edits.push(Edit::set_i64(&car.prim, attr::WIP_LAST_EVENT_AT_MS, at));
        Ok(())
    }

    fn material(&mut self, m: &MaterialActual, at: i64, edits: &mut Vec<Edit>) -> Result<(), Reject> {
        let Some(car) = self.cars.get(&m.vin) else { return Err(self.not_in_work(&m.vin)) };
        let st = self.resolve_station(&m.equipment, &car.shop)?;
        let car = self.cars.get_mut(&m.vin).expect("checked above");
        let same =
            |p: &Part| p.part_number == m.part && p.lot == m.lot && p.serial == m.serial && p.equipment == m.equipment;
        if let Some(p) = car.genealogy.iter_mut().find(|p| same(p)) {
            // The same part again (a resend with a new id, a corrected quantity): the last report wins.
            p.quantity = m.quantity;
            p.unit.clone_from(&m.unit);
            p.at_ms = at;
            let path = format!("{}/{GENEALOGY}/{}", car.prim, p.name);
            edits.push(Edit::set_f64(&path, attr::MATERIAL_QUANTITY, p.quantity));
            edits.push(Edit::set_string(&path, attr::MATERIAL_UNIT, &p.unit));
            edits.push(Edit::set_i64(&path, attr::MATERIAL_AT_MS, at));
            return Ok(());
        }
        let base = valid_prim_name(&m.part);
        let mut name = base.clone();
        let mut n = 0;
        while car.genealogy.iter().any(|p| p.name == name) {
            n += 1;
            name = format!("{base}_{n}");
        }
        if car.genealogy.is_empty() {
            edits.push(Edit::Def {
                path: format!("{}/{GENEALOGY}", car.prim),
                type_name: "Scope".into(),
                api_schemas: vec![],
            });
        }
        let part = Part {
            name,
            part_number: m.part.clone(),
            lot: m.lot.clone(),
            serial: m.serial.clone(),
            quantity: m.quantity,
            unit: m.unit.clone(),
            equipment: m.equipment.clone(),
            station: st.prim,
            at_ms: at,
        };
        part_edits(&car.prim, &part, edits);
        car.genealogy.push(part);
        Ok(())
    }

    fn resolve_station(&self, equipment: &str, car_shop: &str) -> Result<Station, Reject> {
        self.r.station(equipment, car_shop).ok_or_else(|| {
            reject(
                Reason::UnknownStation,
                Some("EquipmentID"),
                format!("equipment {equipment:?} has no [[mes.station]] entry (unmapped_stations = \"reject\")"),
            )
        })
    }

    fn ensure_wip_scope(&mut self, shop: &str, edits: &mut Vec<Edit>) {
        if self.wip_scopes.insert(shop.to_string()) {
            edits.push(Edit::Def { path: format!("{shop}/{WIP}"), type_name: "Scope".into(), api_schemas: vec![] });
        }
    }

    /// The car leaves the station it is in (if any): the station shows no VIN, the car no station.
    fn release_car_station(&mut self, vin: &str, edits: &mut Vec<Edit>) {
        let Some(car) = self.cars.get_mut(vin) else { return };
        let Some(st) = car.station.take() else { return };
        edits.push(Edit::rel(&car.prim, attr::WIP_STATION, Vec::new()));
        if self.stations.get(&st).is_some_and(|v| v == vin) {
            self.stations.remove(&st);
            edits.push(Edit::set_string(&st, attr::CURRENT_VIN, ""));
            edits.push(Edit::set_string(&st, attr::CURRENT_ORDER, ""));
        }
    }

    fn enter(&mut self, vin: &str, station: &str, at: i64, edits: &mut Vec<Edit>) {
        let already = self.cars.get(vin).and_then(|c| c.station.as_deref()) == Some(station);
        if already {
            return;
        }
        self.release_car_station(vin, edits);
        if self.touched.insert(station.to_string()) {
            edits.push(Edit::Over { path: station.to_string(), api_schemas: vec![schema::STATION.to_string()] });
        }
        if let Some(other) = self.stations.insert(station.to_string(), vin.to_string()) {
            // The station's previous car was not reported leaving: it is no longer there.
            if let Some(o) = self.cars.get_mut(&other).filter(|o| o.station.as_deref() == Some(station)) {
                o.station = None;
                edits.push(Edit::rel(&o.prim, attr::WIP_STATION, Vec::new()));
            }
        }
        let Some(car) = self.cars.get_mut(vin) else { return };
        car.station = Some(station.to_string());
        car.entered_at_ms = at;
        edits.push(Edit::set_string(station, attr::CURRENT_VIN, vin));
        edits.push(Edit::set_string(station, attr::CURRENT_ORDER, &car.order_id));
        edits.push(Edit::rel(&car.prim, attr::WIP_STATION, vec![station.to_string()]));
        edits.push(Edit::set_i64(&car.prim, attr::WIP_ENTERED_AT_MS, at));
    }

    /// The car's prim moves to another shop's WIP (its station, in the old shop, is released).
    fn move_car(&mut self, vin: &str, shop: &str, edits: &mut Vec<Edit>) {
        self.release_car_station(vin, edits);
        self.ensure_wip_scope(shop, edits);
        let Some(car) = self.cars.get_mut(vin) else { return };
        edits.push(Edit::Remove { path: car.prim.clone() });
        car.shop = shop.to_string();
        car.prim = car_prim(shop, vin);
        car_edits(car, edits);
    }

    fn leave_shop(&mut self, vin: &str, at: i64, edits: &mut Vec<Edit>) {
        self.release_car_station(vin, edits);
        let Some(car) = self.cars.remove(vin) else { return };
        edits.push(Edit::Remove { path: car.prim });
        self.finished.insert(vin.to_string(), at);
        self.finished_order.push_back((vin.to_string(), at));
        while self.finished_order.len() > self.finished_cap {
            if let Some((old, when)) = self.finished_order.pop_front() {
                if self.finished.get(&old) == Some(&when) {
                    self.finished.remove(&old);
                }
            }
        }
    }

    /// Every edit that builds the current state from an empty layer (what a restored layer holds).
    pub fn full_edits(&self) -> Vec<Edit> {
        let mut edits = Vec::new();
        let mut shops: Vec<&String> = self.wip_scopes.iter().collect();
        shops.sort();
        for s in shops {
            edits.push(Edit::Def { path: format!("{s}/{WIP}"), type_name: "Scope".into(), api_schemas: vec![] });
        }
        let mut cars: Vec<&Car> = self.cars.values().collect();
        cars.sort_by(|a, b| a.prim.cmp(&b.prim));
        for c in cars {
            car_edits(c, &mut edits);
        }
        edits
    }

    /// Restores the state from a saved MES layer: every car under `/<root>/<Shop>/WIP`, with its
    /// genealogy, and the stations they are in. Returns how many cars were restored. Message ids and
    /// finished cars are not in the layer: they start empty.
    pub fn restore(&mut self, layer: &Layer) -> usize {
        let root = format!("/{}", self.r.root);
        let Ok(root_spec) = layer.prim(&root) else { return 0 };
        for shop_name in root_spec.children {
            let shop = format!("{root}/{shop_name}");
            let wip = format!("{shop}/{WIP}");
            let Ok(wip_spec) = layer.prim(&wip) else { continue };
            self.wip_scopes.insert(shop.clone());
            for name in wip_spec.children {
                let prim = format!("{wip}/{name}");
                let Some(car) = read_car(layer, &shop, &prim) else { continue };
                if let Some(st) = &car.station {
                    self.stations.insert(st.clone(), car.vin.clone());
                    self.touched.insert(st.clone());
                }
                self.cars.insert(car.vin.clone(), car);
            }
        }
        self.cars.len()
    }
}

/// `<shop>/WIP/<valid prim name of the VIN>`.
pub fn car_prim(shop: &str, vin: &str) -> String {
    format!("{shop}/{WIP}/{}", valid_prim_name(vin))
}

fn car_edits(car: &Car, edits: &mut Vec<Edit>) {
    let p = &car.prim;
    edits.push(Edit::Def {
        path: p.clone(),
        type_name: "Xform".into(),
        api_schemas: vec![schema::WORK_IN_PROCESS.into()],
    });
    edits.push(Edit::set_string(p, attr::WIP_VIN, &car.vin));
    edits.push(Edit::set_string(p, attr::WIP_ORDER_ID, &car.order_id));
    edits.push(Edit::set_string(p, attr::WIP_MODEL, &car.model));
    edits.push(Edit::set_string(p, attr::WIP_VARIANT, &car.variant));
    edits.push(Edit::set_strings(p, attr::WIP_OPTIONS, &car.options));
    edits.push(Edit::set_i64(p, attr::WIP_SEQUENCE, car.sequence));
    edits.push(Edit::set_i64(p, attr::WIP_RELEASED_AT_MS, car.released_at_ms));
    edits.push(Edit::set_i64(p, attr::WIP_ENTERED_AT_MS, car.entered_at_ms));
    edits.push(Edit::set_i64(p, attr::WIP_LAST_EVENT_AT_MS, car.last_event_ms));
    edits.push(Edit::set_string(p, attr::WIP_LAST_OPERATION, &car.last_operation));
    edits.push(Edit::set_string(p, attr::WIP_LAST_RESULT, &car.last_result));
    edits.push(Edit::rel(p, attr::WIP_STATION, car.station.iter().cloned().collect()));
    if !car.genealogy.is_empty() {
        edits.push(Edit::Def { path: format!("{p}/{GENEALOGY}"), type_name: "Scope".into(), api_schemas: vec![] });
        for part in &car.genealogy {
            part_edits(p, part, edits);
        }
    }
}

fn part_edits(car_prim: &str, part: &Part, edits: &mut Vec<Edit>) {
    let p = format!("{car_prim}/{GENEALOGY}/{}", part.name);
    edits.push(Edit::Def {
        path: p.clone(),
        type_name: "Scope".into(),
        api_schemas: vec![schema::MATERIAL_ACTUAL.into()],
    });
    edits.push(Edit::set_string(&p, attr::MATERIAL_PART_NUMBER, &part.part_number));
    edits.push(Edit::set_string(&p, attr::MATERIAL_LOT, &part.lot));
    edits.push(Edit::set_string(&p, attr::MATERIAL_SERIAL, &part.serial));
    edits.push(Edit::set_f64(&p, attr::MATERIAL_QUANTITY, part.quantity));
    edits.push(Edit::set_string(&p, attr::MATERIAL_UNIT, &part.unit));
    edits.push(Edit::set_string(&p, attr::MATERIAL_EQUIPMENT_ID, &part.equipment));
    edits.push(Edit::set_i64(&p, attr::MATERIAL_AT_MS, part.at_ms));
    edits.push(Edit::rel(&p, attr::MATERIAL_STATION, vec![part.station.clone()]));
}

fn read_string(layer: &Layer, prim: &str, name: &str) -> String {
    match layer.default_value(&format!("{prim}.{name}")) {
        Ok(Some(Value::String(s) | Value::Token(s))) => s,
        _ => String::new(),
    }
}

fn read_i64(layer: &Layer, prim: &str, name: &str) -> i64 {
    match layer.default_value(&format!("{prim}.{name}")) {
        Ok(Some(Value::Int64(v))) => v,
        Ok(Some(Value::Int(v))) => i64::from(v),
        _ => 0,
    }
}

fn read_f64(layer: &Layer, prim: &str, name: &str) -> f64 {
    match layer.default_value(&format!("{prim}.{name}")) {
        Ok(Some(Value::Double(v))) => v,
        Ok(Some(Value::Float(v))) => f64::from(v),
        _ => 0.0,
    }
}

fn read_target(layer: &Layer, prim: &str, name: &str) -> Option<String> {
    let path = format!("{prim}.{name}");
    if !layer.has_spec(&path) {
        return None;
    }
    layer.relationship_targets(&path).ok().and_then(|t| t.into_iter().next())
}

fn read_car(layer: &Layer, shop: &str, prim: &str) -> Option<Car> {
    let vin = read_string(layer, prim, attr::WIP_VIN);
    if vin.is_empty() {
        return None;
    }
    let options = match layer.default_value(&format!("{prim}.{}", attr::WIP_OPTIONS)) {
        Ok(Some(Value::StringArray(v))) => v,
        _ => Vec::new(),
    };
    let mut genealogy = Vec::new();
    let g = format!("{prim}/{GENEALOGY}");
    if let Ok(spec) = layer.prim(&g) {
        for name in spec.children {
            let p = format!("{g}/{name}");
            genealogy.push(Part {
                part_number: read_string(layer, &p, attr::MATERIAL_PART_NUMBER),
                lot: read_string(layer, &p, attr::MATERIAL_LOT),
                serial: read_string(layer, &p, attr::MATERIAL_SERIAL),
                quantity: read_f64(layer, &p, attr::MATERIAL_QUANTITY),
                unit: read_string(layer, &p, attr::MATERIAL_UNIT),
                equipment: read_string(layer, &p, attr::MATERIAL_EQUIPMENT_ID),
                station: read_target(layer, &p, attr::MATERIAL_STATION).unwrap_or_default(),
                at_ms: read_i64(layer, &p, attr::MATERIAL_AT_MS),
                name,
            });
        }
    }
    Some(Car {
        shop: shop.to_string(),
        prim: prim.to_string(),
        order_id: read_string(layer, prim, attr::WIP_ORDER_ID),
        model: read_string(layer, prim, attr::WIP_MODEL),
        variant: read_string(layer, prim, attr::WIP_VARIANT),
        options,
        sequence: read_i64(layer, prim, attr::WIP_SEQUENCE),
        released_at_ms: read_i64(layer, prim, attr::WIP_RELEASED_AT_MS),
        station: read_target(layer, prim, attr::WIP_STATION),
        entered_at_ms: read_i64(layer, prim, attr::WIP_ENTERED_AT_MS),
        last_event_ms: read_i64(layer, prim, attr::WIP_LAST_EVENT_AT_MS),
        last_operation: read_string(layer, prim, attr::WIP_LAST_OPERATION),
        last_result: read_string(layer, prim, attr::WIP_LAST_RESULT),
        genealogy,
        vin,
    })
}

#[cfg(test)]
mod tests {
    use super::super::message::parse_message;
    use super::*;
    use serde_json::json;

    fn msg(v: serde_json::Value) -> Message {
        parse_message(&v, "").expect("valid message")
    }

    fn order(id: &str, vin: &str, at: i64) -> Message {
        msg(json!({"messageId": id, "messageType": "JobOrder", "timestamp": at, "ID": format!("O-{vin}"),
            "VIN": vin, "WorkMasterID": "ID.4", "Variant": "Pro", "Options": ["HP"], "Sequence": 7,
            "HierarchyScope": "Assembly"}))
    }

    fn event(id: &str, vin: &str, eq: &str, ev: &str, at: i64) -> Message {
        msg(json!({"messageId": id, "messageType": "OperationsEvent", "timestamp": at, "VIN": vin,
            "EquipmentID": eq, "Event": ev}))
    }

    fn wip() -> Wip {
        Wip::new("Plant", &MesConfig::default())
    }

    #[test]
    fn a_car_moves_from_station_to_station_and_leaves() {
        let mut w = wip();
        let edits = w.apply(&order("1", "V1", 10)).unwrap();
        assert_eq!(
            edits[0],
            Edit::Def { path: "/Plant/Assembly/WIP".into(), type_name: "Scope".into(), api_schemas: vec![] }
        );
        assert_eq!(w.car("V1").unwrap().prim, "/Plant/Assembly/WIP/V1");
        w.apply(&event("2", "V1", "S1", "entered", 20)).unwrap();
        assert_eq!(w.station_vin("/Plant/Assembly/S1"), Some("V1"));
        w.apply(&event("3", "V1", "S1", "left", 30)).unwrap();
        assert_eq!(w.station_vin("/Plant/Assembly/S1"), None);
        assert_eq!(w.car("V1").unwrap().station, None);
        w.apply(&event("4", "V1", "S2", "entered", 40)).unwrap();
        // Entering a third station without leaving the second releases the second.
        let e = w.apply(&event("5", "V1", "S3", "entered", 50)).unwrap();
        assert!(e.contains(&Edit::set_string("/Plant/Assembly/S2", attr::CURRENT_VIN, "")), "{e:?}");
        assert_eq!(w.car("V1").unwrap().station.as_deref(), Some("/Plant/Assembly/S3"));
        let e = w
            .apply(&msg(json!({"messageId": "6", "messageType": "SegmentResponse", "timestamp": 60,
            "VIN": "V1", "Event": "leftShop"})))
            .unwrap();
        assert!(e.contains(&Edit::Remove { path: "/Plant/Assembly/WIP/V1".into() }));
        assert!(w.is_empty() && w.is_finished("V1"));
        assert_eq!(w.station_vin("/Plant/Assembly/S3"), None);
        let late = w.apply(&event("7", "V1", "S3", "entered", 55)).unwrap_err();
        assert_eq!(late.reason, Reason::FinishedVin);
        assert_eq!(w.apply(&order("8", "V1", 50)).unwrap_err().reason, Reason::FinishedVin);
        // A newer job order brings the car back (the next shop's order).
        w.apply(&order("9", "V1", 70)).unwrap();
        assert!(!w.is_finished("V1") && w.len() == 1);
    }

    #[test]
    fn duplicates_out_of_order_and_unknown_vins_change_nothing() {
        let mut w = wip();
        assert_eq!(w.apply(&event("0", "V9", "S1", "entered", 5)).unwrap_err().reason, Reason::UnknownVin);
        w.apply(&order("1", "V1", 10)).unwrap();
        assert_eq!(w.apply(&order("1", "V1", 10)).unwrap_err().reason, Reason::Duplicate);
        w.apply(&event("2", "V1", "S2", "entered", 30)).unwrap();
        let e = w.apply(&event("3", "V1", "S1", "entered", 20)).unwrap_err();
        assert_eq!((e.reason, e.field), (Reason::OutOfOrder, Some("timestamp")));
        assert_eq!(w.car("V1").unwrap().station.as_deref(), Some("/Plant/Assembly/S2"));
        // A material actual joins the genealogy whatever its time.
        let m = msg(json!({"messageId": "4", "messageType": "MaterialActual", "timestamp": 1, "VIN": "V1",
            "EquipmentID": "S1", "MaterialDefinitionID": "5Q0 123", "MaterialLotID": "L1"}));
        w.apply(&m).unwrap();
        let g = &w.car("V1").unwrap().genealogy;
        assert_eq!(
            (g.len(), g[0].name.as_str(), g[0].station.as_str()),
            (1, valid_prim_name("5Q0 123").as_str(), "/Plant/Assembly/S1")
        );
        // The unknown VIN's message was not remembered: once its order is there, it applies.
        w.apply(&order("10", "V9", 1)).unwrap();
        w.apply(&event("0", "V9", "S1", "entered", 5)).unwrap();
    }

    #[test]
    fn a_second_car_entering_an_occupied_station_displaces_the_first() {
        let mut w = wip();
        w.apply(&order("1", "V1", 1)).unwrap();
        w.apply(&order("2", "V2", 1)).unwrap();
        w.apply(&event("3", "V1", "S1", "entered", 2)).unwrap();
        w.apply(&event("4", "V2", "S1", "entered", 3)).unwrap();
        assert_eq!(w.car("V1").unwrap().station, None);
        assert_eq!(w.station_vin("/Plant/Assembly/S1"), Some("V2"));
    }
}
