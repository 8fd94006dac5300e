//! Modbus TCP source (tokio-modbus client): polls the bound registers, coils and discrete inputs of one
//! server (several unit ids share the connection) at each point's interval, with the reads planned by
//! [`map::plan`] (contiguous points merged, at most 125 registers or 2000 bits a request), decodes them
//! (u16, i16, u32, i32, f32, f64 in any word and byte order, bits of registers) and delivers the values
//! that changed as [`Sample`] batches. A request that gets no answer within the timeout, or a lost
//! connection, reconnects with exponential backoff; Modbus exception answers are counted by code and
//! the other reads go on (docs/modbus.md).

pub mod map;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{mpsc, watch};
use tokio_modbus::client::{Client, Context, Reader, Writer};
use tokio_modbus::prelude::{ExceptionCode, Slave, SlaveContext};

use self::map::{plan, Group, Point, Read, Table};
use crate::command::sink::SinkError;
use crate::sample::{Quality, Sample, SampleBatch, Value};
use crate::source::{ErrorReason, SourceCounters};

/// What can go wrong setting the source up.
#[derive(Debug, thiserror::Error)]
pub enum ModbusError {
    #[error("Modbus source: endpoint {0:?} is not a HOST:PORT that resolves (e.g. 127.0.0.1:502)")]
    Endpoint(String),
    #[error("cannot connect to Modbus server {endpoint}: {reason}")]
    Connect { endpoint: String, reason: String },
    #[error(transparent)]
    Address(#[from] map::AddressError),
    #[error("{0}")]
    Overlap(#[from] map::Overlap),
}

/// Settings of one Modbus TCP source.
#[derive(Debug, Clone)]
pub struct ModbusConfig {
    /// `HOST:PORT`.
    pub endpoint: String,
    /// A request without an answer within this long counts as a lost connection.
    pub timeout: Duration,
    /// Interval of points without `poll_ms`.
    pub default_poll: Duration,
    pub reconnect_initial: Duration,
    pub reconnect_max: Duration,
}

impl ModbusConfig {
    pub fn new(endpoint: impl Into<String>) -> Self {
        ModbusConfig {
            endpoint: endpoint.into(),
            timeout: Duration::from_secs(2),
            default_poll: Duration::from_secs(1),
            reconnect_initial: Duration::from_millis(250),
            reconnect_max: Duration::from_secs(10),
        }
    }
}

/// The reason a Modbus exception code is counted under.
pub fn exception_reason(code: ExceptionCode) -> ErrorReason {
    match code {
        ExceptionCode::IllegalFunction => ErrorReason::ModbusIllegalFunction,
        ExceptionCode::IllegalDataAddress => ErrorReason::ModbusIllegalDataAddress,
        ExceptionCode::IllegalDataValue => ErrorReason::ModbusIllegalDataValue,
        ExceptionCode::ServerDeviceFailure => ErrorReason::ModbusServerDeviceFailure,
        ExceptionCode::ServerDeviceBusy | ExceptionCode::Acknowledge => ErrorReason::ModbusServerBusy,
        ExceptionCode::GatewayPathUnavailable | ExceptionCode::GatewayTargetDevice => ErrorReason::ModbusGateway,
        _ => ErrorReason::ModbusOtherException,
    }
}

/// A connected Modbus TCP source, polling once [`ModbusSource::subscribe`] gave it its points.
pub struct ModbusSource {
    config: ModbusConfig,
    addr: SocketAddr,
    counters: Arc<SourceCounters>,
    /// Registers and bits read so far (changed or not), for the benchmark and the logs.
    values_read: Arc<AtomicU64>,
    stop: watch::Sender<bool>,
    poller: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// The connection of write-back reads and writes (its own, so a command never waits for a poll round).
    commands: tokio::sync::Mutex<Option<Context>>,
}

async fn connect(addr: SocketAddr, timeout: Duration) -> Result<Context, String> {
    match tokio::time::timeout(timeout, tokio_modbus::client::tcp::connect(addr)).await {
        Ok(Ok(ctx)) => Ok(ctx),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
    }
}

/// The words or bits of one read, or why there are none.
enum Answer {
    Words(Vec<u16>),
    Bits(Vec<bool>),
    Exception(ExceptionCode),
    /// The connection is gone or the server did not answer in time.
    Lost(String),
}

async fn read(ctx: &mut Context, r: &Read, timeout: Duration) -> Answer {
    ctx.set_slave(Slave(r.unit));
    let call = async {
        match r.table {
            Table::Holding => ctx.read_holding_registers(r.start, r.count).await.map(|a| a.map(Answer::Words)),
            Table::Input => ctx.read_input_registers(r.start, r.count).await.map(|a| a.map(Answer::Words)),
            Table::Coil => ctx.read_coils(r.start, r.count).await.map(|a| a.map(Answer::Bits)),
            Table::Discrete => ctx.read_discrete_inputs(r.start, r.count).await.map(|a| a.map(Answer::Bits)),
        }
    };
    match tokio::time::timeout(timeout, call).await {
        Ok(Ok(Ok(answer))) => answer,
        Ok(Ok(Err(code))) => Answer::Exception(code),
        Ok(Err(e)) => Answer::Lost(e.to_string()),
        Err(_) => Answer::Lost(format!("no answer within {} ms", timeout.as_millis())),
    }
}

/// The samples of one answered read whose value changed since `last` (all of them the first time).
fn samples_of(r: &Read, answer: &Answer, last: &mut HashMap<u32, Value>, now: SystemTime, out: &mut SampleBatch) {
    for (signal, p) in &r.points {
        let offset = usize::from(p.address - r.start);
        let value = match answer {
            Answer::Words(w) => match w.get(offset..offset + usize::from(p.kind.width())) {
                Some(words) => p.decode_words(words),
                None => continue,
            },
            Answer::Bits(b) => match b.get(offset) {
                Some(&bit) => Value::Bool(bit),
                None => continue,
            },
            _ => continue,
        };
        if last.get(signal) == Some(&value) {
            continue;
        }
        last.insert(*signal, value.clone());
        out.push(Sample {
            signal: *signal,
            value,
            source_time: Some(now),
            server_time: None,
            quality: Quality::GOOD,
            historical: false,
        });
    }
}

impl ModbusSource {
    /// Connects once (an unreachable server is an error naming it); polling starts with `subscribe`.
    pub async fn connect(config: ModbusConfig) -> Result<ModbusSource, ModbusError> {
        let addr: SocketAddr = tokio::net::lookup_host(config.endpoint.as_str())
            .await
            .ok()
            .and_then(|mut found| found.next())
            .ok_or_else(|| ModbusError::Endpoint(config.endpoint.clone()))?;
        let mut ctx = connect(addr, config.timeout)
            .await
            .map_err(|reason| ModbusError::Connect { endpoint: config.endpoint.clone(), reason })?;
        let _ = ctx.disconnect().await;
        let counters = Arc::new(SourceCounters::default());
        counters.connected.store(true, Relaxed);
        let (stop, _) = watch::channel(false);
        let values_read = Arc::new(AtomicU64::new(0));
        Ok(ModbusSource {
            config,
            addr,
            counters,
            values_read,
            stop,
            poller: std::sync::Mutex::new(None),
            commands: tokio::sync::Mutex::new(None),
        })
    }

    pub fn counters(&self) -> Arc<SourceCounters> {
        self.counters.clone()
    }

    /// Registers and bits read so far, changed or not.
    pub fn values_read(&self) -> u64 {
        self.values_read.load(Relaxed)
    }

    pub fn endpoint(&self) -> &str {
        &self.config.endpoint
    }

    /// Parses every `(signal, address)`, plans the reads and starts polling, delivering to `tx`. An address
    /// that does not parse, or points that overlap, are an error before anything is polled. Returns the
    /// number of points and of read requests per round.
    pub fn subscribe(
        &self,
        nodes: &[(u32, String)],
        tx: mpsc::Sender<SampleBatch>,
    ) -> Result<(usize, usize), ModbusError> {
        let default_ms = self.config.default_poll.as_millis() as u64;
        let points: Vec<(u32, Point)> =
            nodes.iter().map(|(s, a)| Ok((*s, Point::parse(a, default_ms)?))).collect::<Result<_, ModbusError>>()?;
        let groups = plan(&points)?;
        let reads = groups.iter().map(|g| g.reads.len()).sum();
        let task = tokio::spawn(poll(
            self.addr,
            self.config.clone(),
            groups,
            self.counters.clone(),
            self.values_read.clone(),
            tx,
            self.stop.subscribe(),
        ));
        *self.poller.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
        Ok((points.len(), reads))
    }

    /// Reads one point (a write-back target's current value) on the command connection.
    pub async fn read_point(&self, address: &str) -> Result<Value, SinkError> {
        let p = Point::parse(address, 1000).map_err(|e| SinkError::Node(e.to_string()))?;
        let r = Read { unit: p.unit, table: p.table, start: p.address, count: p.kind.width(), points: Vec::new() };
        let mut conn = self.commands.lock().await;
        let ctx = self.command_connection(&mut conn).await?;
        let answer = read(ctx, &r, self.config.timeout).await;
        let value = match &answer {
            Answer::Words(w) => p.decode_words(w),
            Answer::Bits(b) => Value::Bool(b.first().copied().unwrap_or(false)),
            Answer::Exception(code) => return Err(SinkError::Refused { status: format!("Modbus exception {code:?}") }),
            Answer::Lost(why) => {
                *conn = None;
                return Err(SinkError::NoAnswer(why.clone()));
            }
        };
        Ok(value)
    }

    /// Writes one point: holding registers (one with function 6, more with function 16, in the point's
    /// type and order) or a coil (function 5). Input registers and discrete inputs are read-only, and one
    /// bit of a register is not written (it would rewrite the register's other bits).
    pub async fn write_point(&self, address: &str, value: &Value) -> Result<(), SinkError> {
        let p = Point::parse(address, 1000).map_err(|e| SinkError::Node(e.to_string()))?;
        let x = value.as_f64().ok_or_else(|| SinkError::Type(format!("{p} takes a number, not {}", value.kind())))?;
        enum Op {
            Registers(Vec<u16>),
            Coil(bool),
        }
        let op = match (p.table, p.kind) {
            (Table::Input | Table::Discrete, _) => {
                return Err(SinkError::Type(format!("{p}: a {} is read-only in Modbus", p.table.as_str())))
            }
            (_, map::Kind::Bit(_)) => {
                return Err(SinkError::Type(format!(
                    "{p}: writing one bit would rewrite the register's other bits; bind the whole register"
                )))
            }
            (Table::Coil, _) => Op::Coil(x != 0.0),
            (Table::Holding, _) => Op::Registers(p.encode_words(x).map_err(|e| SinkError::Type(format!("{p}: {e}")))?),
        };
        let mut conn = self.commands.lock().await;
        let ctx = self.command_connection(&mut conn).await?;
        ctx.set_slave(Slave(p.unit));
        let call = async {
            match &op {
                Op::Coil(b) => ctx.write_single_coil(p.address, *b).await,
                Op::Registers(w) if w.len() == 1 => ctx.write_single_register(p.address, w[0]).await,
                Op::Registers(w) => ctx.write_multiple_registers(p.address, w).await,
            }
        };
        match tokio::time::timeout(self.config.timeout, call).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(code))) => Err(SinkError::Refused { status: format!("Modbus exception {code:?}") }),
            Ok(Err(e)) => {
                *conn = None;
                Err(SinkError::NoAnswer(e.to_string()))
            }
            Err(_) => {
                *conn = None;
                Err(SinkError::NoAnswer(format!("no answer within {} ms", self.config.timeout.as_millis())))
            }
        }
    }

    /// The command connection, connected first when it is not.
    async fn command_connection<'a>(&self, conn: &'a mut Option<Context>) -> Result<&'a mut Context, SinkError> {
        if conn.is_none() {
            *conn = Some(connect(self.addr, self.config.timeout).await.map_err(SinkError::Unreachable)?);
        }
        conn.as_mut().ok_or_else(|| SinkError::Unreachable("no connection".into()))
    }

    /// Stops polling and closes the connection.
    pub async fn close(&self) {
        let _ = self.stop.send(true);
        let task = self.poller.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(mut task) = task {
            if tokio::time::timeout(Duration::from_secs(2), &mut task).await.is_err() {
                task.abort();
            }
        }
        self.counters.connected.store(false, Relaxed);
    }
}

/// The polling loop: each group's reads when they are due, reconnecting with backoff when the connection
/// is lost. Ends when `stop` turns true or the consumer is gone.
async fn poll(
    addr: SocketAddr,
    config: ModbusConfig,
    groups: Vec<Group>,
    counters: Arc<SourceCounters>,
    values_read: Arc<AtomicU64>,
    tx: mpsc::Sender<SampleBatch>,
    mut stop: watch::Receiver<bool>,
) {
    let endpoint = config.endpoint.clone();
    let mut due: Vec<Instant> = vec![Instant::now(); groups.len()];
    let mut last: HashMap<u32, Value> = HashMap::new();
    let mut backoff = config.reconnect_initial;
    let mut ctx: Option<Context> = None;
    let mut connected_before = false;
    // The last exception per read, so a persistent one is logged once, not every round.
    let mut reported: HashMap<(usize, usize), ExceptionCode> = HashMap::new();
    loop {
        if *stop.borrow() {
            break;
        }
        let Some(c) = ctx.as_mut() else {
            match connect(addr, config.timeout).await {
                Ok(c) => {
                    if connected_before {
                        counters.reconnects.fetch_add(1, Relaxed);
                        tracing::info!(%endpoint, "Modbus connection restored");
                    }
                    connected_before = true;
                    counters.connected.store(true, Relaxed);
                    backoff = config.reconnect_initial;
                    ctx = Some(c);
                    // Everything is sent again after a reconnect: the server may have restarted.
                    last.clear();
                }
                Err(e) => {
                    counters.count_error(ErrorReason::ReconnectFailed);
                    tracing::debug!(%endpoint, "Modbus reconnect failed: {e}");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stop.changed() => break,
                    }
                    backoff = (backoff * 2).min(config.reconnect_max);
                }
            }
            continue;
        };
        let (g, at) =
            due.iter().enumerate().min_by_key(|(_, t)| **t).map(|(i, t)| (i, *t)).unwrap_or((0, Instant::now()));
        if groups.is_empty() {
            let _ = stop.changed().await;
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(at.into()) => {}
            _ = stop.changed() => break,
        }
        let now = SystemTime::now();
        let mut batch = SampleBatch::new();
        let mut lost = None;
        for (k, r) in groups[g].reads.iter().enumerate() {
            let answer = read(c, r, config.timeout).await;
            match &answer {
                Answer::Exception(code) => {
                    counters.count_error(exception_reason(*code));
                    if reported.insert((g, k), *code) != Some(*code) {
                        tracing::warn!(%endpoint, unit = r.unit, table = r.table.as_str(), start = r.start, count = r.count, "Modbus exception {code:?}");
                    }
                }
                Answer::Lost(why) => {
                    lost = Some(why.clone());
                    break;
                }
                _ => {
                    values_read.fetch_add(u64::from(r.count), Relaxed);
                    reported.remove(&(g, k));
                    samples_of(r, &answer, &mut last, now, &mut batch);
                }
            }
        }
        due[g] = at + Duration::from_millis(groups[g].poll_ms);
        if due[g] < Instant::now() {
            due[g] = Instant::now(); // a slow server: poll again at once, never in a burst
        }
        if !batch.is_empty() {
            let n = batch.len() as u64;
            if tx.send(batch).await.is_err() {
                break; // the consumer is gone
            }
            counters.samples_in.fetch_add(n, Relaxed);
            counters.batches_in.fetch_add(1, Relaxed);
        }
        if let Some(why) = lost {
            counters.count_error(ErrorReason::ConnectionLost);
            counters.connected.store(false, Relaxed);
            tracing::warn!(%endpoint, "Modbus connection lost ({why}); reconnecting");
            ctx = None;
        }
    }
    if let Some(mut c) = ctx {
        let _ = tokio::time::timeout(Duration::from_secs(1), c.disconnect()).await;
    }
}
