//! Paint shop model: a spray booth and a curing oven on one conveyor.
//!
//! Throughput follows from the conveyor speed and the car pitch, capped by the oven: a car must reach the cure
//! temperature and stay above it for the cure time within the oven. Car body temperature follows the lumped
//! capacitance model `T(t) = T_set − (T_set − T_in)·exp(−t/τ)` (Incropera & DeWitt, Fundamentals of Heat and
//! Mass Transfer, §5.2). Energy per car adds the booth's fan power `Q·Δp/η` and supply air heating
//! `ρ·c_p·Q·ΔT` (ASHRAE Handbook—Fundamentals, ch. 1 sensible heat), and the oven's body heating
//! `m·c·(T_exit − T_in)`, exhaust air heating and shell losses over the burner efficiency. docs/flow.md lists
//! every parameter.

use serde::{Deserialize, Serialize};

use crate::error::{FlowError, Result};

/// Density of air, kg/m³ (20 °C, sea level).
pub const AIR_DENSITY: f64 = 1.2;
/// Specific heat of air, kJ/(kg·K).
pub const AIR_CP: f64 = 1.005;

/// Spray booth with downdraft air.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Booth {
    pub length_m: f64,
    pub width_m: f64,
    /// Downdraft air velocity over the booth floor, m/s (setpoint).
    pub air_velocity_m_s: f64,
    /// Supply air temperature (setpoint) and outside air temperature, °C.
    pub supply_temp_c: f64,
    pub outside_temp_c: f64,
    /// Share of the supply air that is recirculated (not heated from outside), 0..1.
    #[serde(default)]
    pub recirculation: f64,
    /// Total fan pressure, Pa, and fan plus motor efficiency.
    pub fan_pressure_pa: f64,
    pub fan_efficiency: f64,
    /// Heater efficiency of the supply air unit.
    pub heater_efficiency: f64,
}

/// A body variant for the oven (mass and heating time constant).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Body {
    pub name: String,
    pub share: f64,
    pub mass_kg: f64,
    /// Lumped-capacitance time constant of the body in the oven, minutes.
    pub tau_min: f64,
}

/// Curing oven.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Oven {
    pub length_m: f64,
    /// Oven air temperature (setpoint), °C.
    pub setpoint_c: f64,
    /// Paint cure window: at least `cure_time_min` at or above `cure_temp_c`, never above `max_temp_c`.
    pub cure_temp_c: f64,
    pub cure_time_min: f64,
    pub max_temp_c: f64,
    /// Body temperature entering the oven, °C.
    pub body_in_temp_c: f64,
    /// Specific heat of the body material, kJ/(kg·K) (steel ≈ 0.49).
    pub body_cp_kj_kg_k: f64,
    /// Exhaust (fresh) air volume, m³/h, heated from outside air.
    pub exhaust_m3_h: f64,
    pub outside_temp_c: f64,
    /// Shell and opening losses, W per K of (setpoint − outside).
    pub shell_loss_w_k: f64,
    pub burner_efficiency: f64,
}

/// A paint shop: booth, oven, conveyor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaintModel {
    pub name: String,
    /// Conveyor speed, m/min (setpoint), and distance between cars, m.
    pub conveyor_m_min: f64,
    pub pitch_m: f64,
    pub booth: Booth,
    pub oven: Oven,
    pub bodies: Vec<Body>,
    /// Optional what-if grid over setpoints.
    #[serde(default)]
    pub whatif: Option<WhatIf>,
}

/// Setpoint values to try (each list empty = keep the model's value).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhatIf {
    #[serde(default)]
    pub conveyor_m_min: Vec<f64>,
    #[serde(default)]
    pub booth_air_velocity_m_s: Vec<f64>,
    #[serde(default)]
    pub oven_setpoint_c: Vec<f64>,
}

/// Cure result of one body variant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CureCheck {
    pub body: String,
    /// Minutes at or above the cure temperature inside the oven.
    pub time_at_temp_min: f64,
    /// Highest body temperature reached, °C.
    pub peak_temp_c: f64,
    pub ok: bool,
}

/// Results at one set of setpoints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PaintResult {
    pub conveyor_m_min: f64,
    pub booth_air_velocity_m_s: f64,
    pub oven_setpoint_c: f64,
    /// Cars per hour the conveyor carries.
    pub throughput_per_h: f64,
    /// Fastest conveyor speed at which every body variant still cures, m/min (0 if none).
    pub max_cure_speed_m_min: f64,
    pub booth_kw: f64,
    pub oven_kw: f64,
    /// Mix-weighted energy per car, kWh.
    pub kwh_per_car: f64,
    pub booth_kwh_per_car: f64,
    pub oven_kwh_per_car: f64,
    pub cure: Vec<CureCheck>,
    /// Share of cars (by the mix) that cure correctly.
    pub cure_ok_share: f64,
}

fn positive(model: &str, field: &str, v: f64) -> Result<()> {
    if v > 0.0 && v.is_finite() {
        Ok(())
    } else {
        Err(FlowError::invalid(format!("paint model {model:?}: {field}"), format!("{v} must be positive")))
    }
}

impl PaintModel {
    /// Checks the parameters; errors name the field.
    pub fn validate(&self) -> Result<()> {
        let n = &self.name;
        positive(n, "conveyor_m_min", self.conveyor_m_min)?;
        positive(n, "pitch_m", self.pitch_m)?;
        let b = &self.booth;
        for (f, v) in [
            ("booth.length_m", b.length_m),
            ("booth.width_m", b.width_m),
            ("booth.air_velocity_m_s", b.air_velocity_m_s),
            ("booth.fan_pressure_pa", b.fan_pressure_pa),
            ("booth.fan_efficiency", b.fan_efficiency),
            ("booth.heater_efficiency", b.heater_efficiency),
            ("oven.length_m", self.oven.length_m),
            ("oven.cure_time_min", self.oven.cure_time_min),
            ("oven.body_cp_kj_kg_k", self.oven.body_cp_kj_kg_k),
            ("oven.burner_efficiency", self.oven.burner_efficiency),
        ] {
            positive(n, f, v)?;
        }
        if !(0.0..1.0).contains(&b.recirculation) {
            return Err(FlowError::invalid(format!("paint model {n:?}: booth.recirculation"), "must be in [0, 1)"));
        }
        if self.oven.exhaust_m3_h < 0.0 || self.oven.shell_loss_w_k < 0.0 {
            return Err(FlowError::invalid(
                format!("paint model {n:?}: oven"),
                "exhaust_m3_h and shell_loss_w_k must be >= 0",
            ));
        }
        if self.bodies.is_empty() {
            return Err(FlowError::invalid(format!("paint model {n:?}: bodies"), "at least one body variant"));
        }
        for (i, body) in self.bodies.iter().enumerate() {
            positive(n, &format!("bodies[{i}].mass_kg"), body.mass_kg)?;
            positive(n, &format!("bodies[{i}].tau_min"), body.tau_min)?;
            positive(n, &format!("bodies[{i}].share"), body.share)?;
        }
        Ok(())
    }

    /// Evaluates the model at its own setpoints.
    pub fn evaluate(&self) -> Result<PaintResult> {
        self.validate()?;
        let b = &self.booth;
        let o = &self.oven;
        let v = self.conveyor_m_min;
        let throughput = v * 60.0 / self.pitch_m;
        // Booth: air volume flow Q = v_air · floor area; fan power Q·Δp/η; heating of the fresh share.
        let q = b.air_velocity_m_s * b.length_m * b.width_m;
        let fan_kw = q * b.fan_pressure_pa / b.fan_efficiency / 1000.0;
        let heat_kw =
            AIR_DENSITY * AIR_CP * q * (1.0 - b.recirculation) * (b.supply_temp_c - b.outside_temp_c).max(0.0)
                / b.heater_efficiency;
        let booth_kw = fan_kw + heat_kw;
        // Oven: continuous exhaust heating and shell losses, plus the heat each body takes up.
        let exhaust_kw = AIR_DENSITY * AIR_CP * o.exhaust_m3_h / 3600.0 * (o.setpoint_c - o.outside_temp_c).max(0.0);
        let shell_kw = o.shell_loss_w_k * (o.setpoint_c - o.outside_temp_c).max(0.0) / 1000.0;
        let dwell_min = o.length_m / v;
        let share_sum: f64 = self.bodies.iter().map(|x| x.share).sum();
        let mut body_kwh = 0.0;
        let mut cure = Vec::new();
        let mut ok_share = 0.0;
        let mut max_speed = f64::INFINITY;
        for body in &self.bodies {
            let temp = |t: f64| o.setpoint_c - (o.setpoint_c - o.body_in_temp_c) * (-t / body.tau_min).exp();
            let peak = temp(dwell_min);
            // Time to reach the cure temperature, if the setpoint allows it at all.
            let reach = (o.setpoint_c > o.cure_temp_c).then(|| {
                body.tau_min * ((o.setpoint_c - o.body_in_temp_c) / (o.setpoint_c - o.cure_temp_c)).ln().max(0.0)
            });
            let at_temp = reach.map_or(0.0, |r| (dwell_min - r).max(0.0));
            let ok = at_temp >= o.cure_time_min && peak <= o.max_temp_c;
            max_speed = max_speed.min(match reach {
                Some(r) if o.setpoint_c <= o.max_temp_c || temp(r + o.cure_time_min) <= o.max_temp_c => {
                    o.length_m / (r + o.cure_time_min)
                }
                _ => 0.0,
            });
            if ok {
                ok_share += body.share / share_sum;
            }
            body_kwh +=
                body.share / share_sum * body.mass_kg * o.body_cp_kj_kg_k * (peak - o.body_in_temp_c).max(0.0) / 3600.0;
            cure.push(CureCheck { body: body.name.clone(), time_at_temp_min: at_temp, peak_temp_c: peak, ok });
        }
        let oven_kw = (exhaust_kw + shell_kw) / o.burner_efficiency;
        let body_kwh = body_kwh / o.burner_efficiency;
        let booth_kwh_per_car = booth_kw / throughput;
        let oven_kwh_per_car = oven_kw / throughput + body_kwh;
        Ok(PaintResult {
            conveyor_m_min: v,
            booth_air_velocity_m_s: b.air_velocity_m_s,
            oven_setpoint_c: o.setpoint_c,
            throughput_per_h: throughput,
            max_cure_speed_m_min: max_speed,
            booth_kw,
            oven_kw: oven_kw + body_kwh * throughput,
            kwh_per_car: booth_kwh_per_car + oven_kwh_per_car,
            booth_kwh_per_car,
            oven_kwh_per_car,
            cure,
            cure_ok_share: ok_share,
        })
    }

    /// Evaluates every combination of the what-if setpoints (the model's own values where a list is empty).
    pub fn what_if(&self) -> Result<Vec<PaintResult>> {
        let w = self.whatif.clone().unwrap_or_default();
        let or = |xs: Vec<f64>, x: f64| if xs.is_empty() { vec![x] } else { xs };
        let mut out = Vec::new();
        for v in or(w.conveyor_m_min, self.conveyor_m_min) {
            for a in or(w.booth_air_velocity_m_s.clone(), self.booth.air_velocity_m_s) {
                for t in or(w.oven_setpoint_c.clone(), self.oven.setpoint_c) {
                    let mut m = self.clone();
                    m.conveyor_m_min = v;
                    m.booth.air_velocity_m_s = a;
                    m.oven.setpoint_c = t;
                    out.push(m.evaluate()?);
                }
            }
        }
        Ok(out)
    }
}
