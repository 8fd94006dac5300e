//! The plant as a Modbus TCP server too (tokio-modbus), for the energy meters and any other numeric signal:
//! signal number `i` (the order of [`crate::SimulatorHandle::signals`]) is a 32-bit float, high word first
//! (`ABCD`), in holding registers `2 × (i mod 32768)` and the next of unit id `1 + i / 32768`; the input
//! registers mirror them. Booleans read 1.0 or 0.0, text reads NaN. Reads past the plant's signals answer
//! exception 2 (illegal data address), other function codes exception 1 (illegal function): the Modbus
//! side is read-only. [`modbus_address`] gives a signal's address in the connector's `node` syntax.

use std::future::{self, Future};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_modbus::prelude::{ExceptionCode, Request, Response, SlaveRequest};
use tokio_modbus::server::tcp::{accept_tcp_connection, Server};

use crate::model::SimValue;

/// Signals per unit id: 32,768 floats fill the 65,536 registers of one unit.
pub const SIGNALS_PER_UNIT: usize = 32_768;

/// The value of every signal as f32 bits, updated by the model thread after each tick, read lock-free by
/// the Modbus connections.
pub struct RegisterImage {
    bits: Vec<AtomicU32>,
}

fn as_f32(v: &SimValue) -> f32 {
    match v {
        SimValue::Double(x) => *x as f32,
        SimValue::Int(i) => *i as f32,
        SimValue::Long(i) => *i as f32,
        SimValue::Bool(b) => f32::from(u8::from(*b)),
        SimValue::Text(_) => f32::NAN,
    }
}

impl RegisterImage {
    pub fn new(values: &[SimValue]) -> Self {
        RegisterImage { bits: values.iter().map(|v| AtomicU32::new(as_f32(v).to_bits())).collect() }
    }

    /// Stores signal `id`'s new value.
    pub fn set(&self, id: usize, value: &SimValue) {
        if let Some(b) = self.bits.get(id) {
            b.store(as_f32(value).to_bits(), Relaxed);
        }
    }

    /// Registers `start..start+count` of `unit`, or why not.
    fn registers(&self, unit: u8, start: u16, count: u16) -> Result<Vec<u16>, ExceptionCode> {
        if unit == 0 || count == 0 || count > 125 {
            return Err(if unit == 0 { ExceptionCode::IllegalDataAddress } else { ExceptionCode::IllegalDataValue });
        }
        let base = (usize::from(unit) - 1) * SIGNALS_PER_UNIT;
        (usize::from(start)..usize::from(start) + usize::from(count))
            .map(|r| {
                let bits = self.bits.get(base + r / 2).ok_or(ExceptionCode::IllegalDataAddress)?.load(Relaxed);
                Ok(if r % 2 == 0 { (bits >> 16) as u16 } else { bits as u16 })
            })
            .collect()
    }
}

/// The connector's address of signal number `id`: `unit=U;holding=R;type=f32`.
pub fn modbus_address(id: usize) -> String {
    format!("unit={};holding={};type=f32", 1 + id / SIGNALS_PER_UNIT, 2 * (id % SIGNALS_PER_UNIT))
}

struct PlantService {
    image: Arc<RegisterImage>,
}

impl tokio_modbus::server::Service for PlantService {
    type Request = SlaveRequest<'static>;
    type Response = Response;
    type Exception = ExceptionCode;
    type Future = Pin<Box<dyn Future<Output = Result<Response, ExceptionCode>> + Send>>;

    fn call(&self, req: Self::Request) -> Self::Future {
        let answer = match req.request {
            Request::ReadHoldingRegisters(start, count) => {
                self.image.registers(req.slave, start, count).map(Response::ReadHoldingRegisters)
            }
            Request::ReadInputRegisters(start, count) => {
                self.image.registers(req.slave, start, count).map(Response::ReadInputRegisters)
            }
            _ => Err(ExceptionCode::IllegalFunction),
        };
        Box::pin(future::ready(answer))
    }
}

/// Serves `image` on `listener` until the task is aborted.
pub async fn serve(listener: TcpListener, image: Arc<RegisterImage>) {
    let server = Server::new(listener);
    let new_service = |_addr: SocketAddr| Ok(Some(PlantService { image: image.clone() }));
    let on_connected = |stream, addr| async move { accept_tcp_connection(stream, addr, new_service) };
    let on_error = |e| tracing::debug!("Modbus connection: {e}");
    if let Err(e) = server.serve(&on_connected, on_error).await {
        tracing::error!("Modbus server: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_map_to_float_register_pairs_per_unit() {
        let values: Vec<SimValue> = (0..SIGNALS_PER_UNIT + 2).map(|i| SimValue::Double(i as f64 + 0.5)).collect();
        let image = RegisterImage::new(&values);
        let w = image.registers(1, 6, 2).unwrap();
        assert_eq!(f32::from_bits((u32::from(w[0]) << 16) | u32::from(w[1])), 3.5);
        let w = image.registers(2, 2, 2).unwrap();
        assert_eq!(f32::from_bits((u32::from(w[0]) << 16) | u32::from(w[1])), (SIGNALS_PER_UNIT + 1) as f32 + 0.5);
        assert_eq!(image.registers(2, 4, 1), Err(ExceptionCode::IllegalDataAddress));
        assert_eq!(image.registers(1, 0, 126), Err(ExceptionCode::IllegalDataValue));
        assert_eq!(modbus_address(SIGNALS_PER_UNIT + 1), "unit=2;holding=2;type=f32");
        image.set(3, &SimValue::Bool(true));
        let w = image.registers(1, 6, 2).unwrap();
        assert_eq!(f32::from_bits((u32::from(w[0]) << 16) | u32::from(w[1])), 1.0);
    }
}
