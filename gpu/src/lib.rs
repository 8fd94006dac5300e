//! GPU selection and kernel loading shared by Twinloom's analytics.
//!
//! - [`GpuMode`] is what a user asks for (`--gpu auto|on|off`); [`select`] turns it into a [`Device`]:
//!   the CUDA GPU when this build has the `cuda` feature and a driver with a device is present, otherwise
//!   the CPU with the reason why. The decision itself ([`decide`]) is a pure function of the mode and a
//!   [`Probe`], so it is tested on machines without a GPU.
//! - With the `cuda` feature, [`Gpu`] opens device 0 through cudarc (which loads libcuda and NVRTC at run
//!   time: the library is checked for before cudarc touches it, because cudarc panics when it is missing)
//!   and compiles kernel sources with NVRTC for the device's architecture.
//! - Kernel sources share [`KERNEL_PRELUDE`] (`kernels/prelude.h`): each kernel is written once in a C
//!   subset that both NVRTC and the host C++ compiler accept, so CPU-only CI runs the kernel's per-item
//!   code too (see that file).

use std::fmt;
use std::str::FromStr;
#[cfg(feature = "cuda")]
use std::sync::Arc;

/// The prelude every kernel source starts with (macros for device/host compilation).
pub const KERNEL_PRELUDE: &str = include_str!("../kernels/prelude.h");

/// Directory of the prelude, for build scripts that compile kernel sources for the host
/// (`-include <dir>/prelude.h`).
pub const KERNEL_INCLUDE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/kernels");

/// Errors of GPU selection and kernel loading.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    #[error("unknown GPU mode {0:?}: use auto, on or off")]
    UnknownMode(String),
    #[error("--gpu on, but {0}")]
    Unavailable(String),
    #[error("CUDA driver call failed while {what}: {message}")]
    Driver { what: String, message: String },
    #[error("NVRTC could not compile kernel {kernel}: {message}")]
    Compile { kernel: String, message: String },
}

/// What the user asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GpuMode {
    /// The GPU when one can be used, otherwise the CPU.
    #[default]
    Auto,
    /// The GPU or an error.
    On,
    /// The CPU.
    Off,
}

impl FromStr for GpuMode {
    type Err = GpuError;
    fn from_str(s: &str) -> Result<Self, GpuError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(GpuMode::Auto),
            "on" => Ok(GpuMode::On),
            "off" => Ok(GpuMode::Off),
            _ => Err(GpuError::UnknownMode(s.to_string())),
        }
    }
}

impl fmt::Display for GpuMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GpuMode::Auto => "auto",
            GpuMode::On => "on",
            GpuMode::Off => "off",
        })
    }
}

/// What this build and machine offer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    /// Built without the `cuda` feature.
    NotBuilt,
    /// Built with CUDA, but the driver library, NVRTC or a device is missing (the reason says which).
    Missing(String),
    /// A usable device (its name).
    Present(String),
}

/// Where a computation runs, decided from a mode and a probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Choice {
    /// The CPU, with the reason when the GPU was not used although the mode allowed it.
    Cpu { reason: String },
    /// The GPU (its name).
    Gpu { name: String },
}

/// The selection rule: `off` is always the CPU; `on` is the GPU or an error saying what is missing;
/// `auto` is the GPU when present, otherwise the CPU with the reason.
pub fn decide(mode: GpuMode, probe: &Probe) -> Result<Choice, GpuError> {
    let missing = match probe {
        Probe::Present(name) if mode != GpuMode::Off => return Ok(Choice::Gpu { name: name.clone() }),
        Probe::Present(_) => "--gpu off".to_string(),
        Probe::NotBuilt => "this build of twinloom has no CUDA path (build with the `cuda` feature)".to_string(),
        Probe::Missing(why) => why.clone(),
    };
    match mode {
        GpuMode::On => Err(GpuError::Unavailable(missing)),
        GpuMode::Auto | GpuMode::Off => {
            Ok(Choice::Cpu { reason: if mode == GpuMode::Off { "--gpu off".to_string() } else { missing } })
        }
    }
}

/// An opened CUDA GPU, shared. Without the `cuda` feature no value of this type exists, but the variants
/// that hold one ([`Device::Cuda`], [`Backend::Cuda`]) do: features stay additive and every crate matches
/// the same variants in every build.
#[derive(Clone)]
pub struct CudaDevice(CudaInner);

#[cfg(feature = "cuda")]
type CudaInner = Arc<Gpu>;

/// Never made: a build without CUDA cannot open a GPU (a private unit, not an empty type, so that code
/// matching `Cuda` compiles without "unreachable" warnings in every build).
#[cfg(not(feature = "cuda"))]
#[derive(Clone)]
#[allow(dead_code)]
struct CudaInner;

impl CudaDevice {
    /// The device's name.
    pub fn name(&self) -> &str {
        #[cfg(feature = "cuda")]
        return self.0.name();
        #[cfg(not(feature = "cuda"))]
        "none (this build has no CUDA)"
    }

    /// Wraps an opened GPU.
    #[cfg(feature = "cuda")]
    pub fn new(gpu: Arc<Gpu>) -> CudaDevice {
        CudaDevice(gpu)
    }

    /// The opened GPU, to launch kernels on.
    #[cfg(feature = "cuda")]
    pub fn gpu(&self) -> &Arc<Gpu> {
        &self.0
    }
}

/// The device [`select`] chose.
#[derive(Clone)]
pub enum Device {
    /// The CPU, and why the GPU is not used.
    Cpu { reason: String },
    /// The CUDA GPU.
    Cuda(CudaDevice),
}

impl Device {
    /// "cpu" or "gpu (<device name>)", for reports.
    pub fn label(&self) -> String {
        match self {
            Device::Cpu { .. } => "cpu".to_string(),
            Device::Cuda(gpu) => format!("gpu ({})", gpu.name()),
        }
    }
}

/// Where an analysis's kernels run: the Rust CPU path, the kernels' code compiled for the host (the GPU's
/// per-item code on machines without one, which tests compare with the CPU path), or the CUDA GPU. The
/// analytics crates match these variants; one whose own `cuda` feature is off runs its CPU path on
/// `Cuda` (a GPU another crate's feature opened).
#[derive(Clone, Default)]
pub enum Backend {
    /// Rust on all cores.
    #[default]
    Cpu,
    /// The kernels' code compiled for the host, on all cores.
    HostKernel,
    /// The CUDA GPU.
    Cuda(CudaDevice),
}

impl Backend {
    /// The backend of a selected device.
    pub fn for_device(device: &Device) -> Backend {
        match device {
            Device::Cpu { .. } => Backend::Cpu,
            Device::Cuda(gpu) => Backend::Cuda(gpu.clone()),
        }
    }

    /// `cpu`, `cpu (host-compiled kernel)` or `gpu (<device name>)`, for reports.
    pub fn label(&self) -> String {
        match self {
            Backend::Cpu => "cpu".into(),
            Backend::HostKernel => "cpu (host-compiled kernel)".into(),
            Backend::Cuda(gpu) => format!("gpu ({})", gpu.name()),
        }
    }
}

impl fmt::Debug for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

/// Probes this build and machine and applies [`decide`]. The GPU is opened once per process and shared.
pub fn select(mode: GpuMode) -> Result<Device, GpuError> {
    if mode == GpuMode::Off {
        return Ok(Device::Cpu { reason: "--gpu off".to_string() });
    }
    let (probe, _gpu) = probe_and_open();
    match decide(mode, &probe)? {
        Choice::Cpu { reason } => Ok(Device::Cpu { reason }),
        Choice::Gpu { .. } => match _gpu {
            Some(gpu) => Ok(Device::Cuda(gpu)),
            None => Err(GpuError::Unavailable("the GPU could not be opened".into())),
        },
    }
}

#[cfg(not(feature = "cuda"))]
fn probe_and_open() -> (Probe, Option<CudaDevice>) {
    (Probe::NotBuilt, None)
}

#[cfg(feature = "cuda")]
fn probe_and_open() -> (Probe, Option<CudaDevice>) {
    static OPENED: std::sync::OnceLock<Result<Arc<Gpu>, String>> = std::sync::OnceLock::new();
    let open = || {
        Gpu::open().map(Arc::new).map_err(|e| match e {
            // The reason alone: `decide` words it for the mode asked for.
            GpuError::Unavailable(why) => why,
            other => other.to_string(),
        })
    };
    match OPENED.get_or_init(open) {
        Ok(gpu) => (Probe::Present(gpu.name().to_string()), Some(CudaDevice(gpu.clone()))),
        Err(why) => (Probe::Missing(why.clone()), None),
    }
}

#[cfg(feature = "cuda")]
pub use cuda::{compile_ptx, nvrtc_present, Gpu};

/// For GPU tests: the GPU, or `None` (the caller skips) where there is none. Panics instead when
/// `TWINLOOM_REQUIRE_GPU` is set (the device kit sets it, so a check on a GPU machine cannot skip).
#[cfg(feature = "cuda")]
pub fn gpu_for_checks() -> Option<Arc<Gpu>> {
    match select(GpuMode::Auto) {
        Ok(Device::Cuda(gpu)) => {
            eprintln!("GPU: {}", gpu.name());
            Some(gpu.gpu().clone())
        }
        Ok(Device::Cpu { reason }) => required_or_skip(
            "TWINLOOM_REQUIRE_GPU",
            &format!("no GPU here ({reason}): the CUDA launch is not exercised"),
        ),
        Err(e) => {
            required_or_skip("TWINLOOM_REQUIRE_GPU", &format!("no GPU here ({e}): the CUDA launch is not exercised"))
        }
    }
}

/// For NVRTC tests (no GPU needed): whether NVRTC can be loaded; `false` means skip. Panics instead when
/// `TWINLOOM_REQUIRE_NVRTC` is set (ci/test installs NVRTC and sets it, so CI cannot skip silently).
#[cfg(feature = "cuda")]
pub fn nvrtc_for_checks() -> bool {
    nvrtc_present()
        || required_or_skip::<()>("TWINLOOM_REQUIRE_NVRTC", "libnvrtc is not on the library path: skipped").is_some()
}

#[cfg(feature = "cuda")]
fn required_or_skip<T>(var: &str, why: &str) -> Option<T> {
    assert!(std::env::var_os(var).is_none(), "{var} is set, but {why}");
    eprintln!("{why}");
    None
}
#[cfg(feature = "cuda")]
pub use cudarc;

#[cfg(feature = "cuda")]
mod cuda {
    //! Device 0 through cudarc, and NVRTC compilation for its architecture.
    use super::{GpuError, KERNEL_PRELUDE};
    use cudarc::driver::{CudaContext, CudaFunction, CudaStream};
    use cudarc::nvrtc::{compile_ptx_with_opts, CompileOptions, Ptx};
    use std::sync::Arc;

    /// Whether NVRTC (libnvrtc) can be loaded; no GPU is needed to compile.
    pub fn nvrtc_present() -> bool {
        // SAFETY: only tries to dlopen the library by name.
        unsafe { cudarc::nvrtc::sys::is_culib_present() }
    }

    /// Compiles a kernel `source` (the prelude is prepended) with NVRTC for `arch` (e.g. "sm_90") and
    /// returns the PTX text. Floating-point contraction is off and division and square root are IEEE
    /// rounded, so the device follows the CPU's operation order. Call only where [`nvrtc_present`].
    pub fn compile_ptx(arch: &'static str, kernel: &str, source: &str) -> Result<String, GpuError> {
        let opts = CompileOptions {
            arch: Some(arch),
            fmad: Some(false),
            prec_div: Some(true),
            prec_sqrt: Some(true),
            name: Some(format!("{kernel}.cu")),
            ..Default::default()
        };
        compile_ptx_with_opts(format!("{KERNEL_PRELUDE}\n{source}"), opts)
            .map(|ptx| ptx.to_src())
            .map_err(|e| GpuError::Compile { kernel: kernel.to_string(), message: e.to_string() })
    }

    /// An opened CUDA device with its stream.
    pub struct Gpu {
        ctx: Arc<CudaContext>,
        stream: Arc<CudaStream>,
        name: String,
        arch: &'static str,
    }

    fn driver(what: &str) -> impl Fn(cudarc::driver::DriverError) -> GpuError + '_ {
        move |e| GpuError::Driver { what: what.to_string(), message: e.to_string() }
    }

    impl Gpu {
        /// Opens device 0. Checks for libcuda, NVRTC and a device first, since cudarc panics without them.
        pub fn open() -> Result<Gpu, GpuError> {
            // SAFETY: these only try to dlopen the libraries by name.
            if !unsafe { cudarc::driver::sys::is_culib_present() } {
                return Err(GpuError::Unavailable("no NVIDIA driver (libcuda) on this machine".into()));
            }
            if !nvrtc_present() {
                return Err(GpuError::Unavailable("the CUDA runtime compiler (libnvrtc) is not installed".into()));
            }
            let count = CudaContext::device_count().map_err(driver("counting devices"))?;
            if count < 1 {
                return Err(GpuError::Unavailable("the NVIDIA driver reports no device".into()));
            }
            let ctx = CudaContext::new(0).map_err(driver("opening device 0"))?;
            let name = ctx.name().map_err(driver("reading the device name"))?;
            let (major, minor) = ctx.compute_capability().map_err(driver("reading the compute capability"))?;
            let arch: &'static str = Box::leak(format!("sm_{major}{minor}").into_boxed_str());
            let stream = ctx.default_stream();
            Ok(Gpu { ctx, stream, name, arch })
        }

        pub fn name(&self) -> &str {
            &self.name
        }

        pub fn context(&self) -> &Arc<CudaContext> {
            &self.ctx
        }

        pub fn stream(&self) -> &Arc<CudaStream> {
            &self.stream
        }

        /// Compiles `source` with NVRTC for this device ([`compile_ptx`]) and loads `functions`.
        pub fn compile(&self, kernel: &str, source: &str, functions: &[&str]) -> Result<Vec<CudaFunction>, GpuError> {
            let ptx = compile_ptx(self.arch, kernel, source)?;
            let module = self.ctx.load_module(Ptx::from_src(ptx)).map_err(driver("loading the compiled module"))?;
            functions.iter().map(|f| module.load_function(f).map_err(driver(f))).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_print() {
        for m in [GpuMode::Auto, GpuMode::On, GpuMode::Off] {
            assert_eq!(m.to_string().parse::<GpuMode>().unwrap(), m);
        }
        assert_eq!(" ON ".parse::<GpuMode>().unwrap(), GpuMode::On);
        let err = "gpu".parse::<GpuMode>().unwrap_err();
        assert!(err.to_string().contains("auto, on or off"), "{err}");
    }

    #[test]
    fn selection_rule() {
        let present = Probe::Present("NVIDIA H100".into());
        let missing = Probe::Missing("no NVIDIA driver (libcuda) on this machine".into());
        let gpu = Choice::Gpu { name: "NVIDIA H100".into() };
        assert_eq!(decide(GpuMode::Auto, &present).unwrap(), gpu);
        assert_eq!(decide(GpuMode::On, &present).unwrap(), gpu);
        assert_eq!(decide(GpuMode::Off, &present).unwrap(), Choice::Cpu { reason: "--gpu off".into() });
        match decide(GpuMode::Auto, &missing).unwrap() {
            Choice::Cpu { reason } => assert!(reason.contains("libcuda"), "{reason}"),
            other => panic!("{other:?}"),
        }
        let err = decide(GpuMode::On, &missing).unwrap_err();
        assert!(err.to_string().contains("--gpu on, but no NVIDIA driver"), "{err}");
        let err = decide(GpuMode::On, &Probe::NotBuilt).unwrap_err();
        assert!(err.to_string().contains("`cuda` feature"), "{err}");
        assert!(matches!(decide(GpuMode::Auto, &Probe::NotBuilt).unwrap(), Choice::Cpu { .. }));
    }

    #[test]
    fn this_machine_selects_a_device_for_auto_and_off() {
        // Runs everywhere: without a GPU, auto falls back to the CPU with a reason; off is always the CPU.
        let auto = select(GpuMode::Auto).unwrap();
        match &auto {
            Device::Cpu { reason } => assert!(!reason.is_empty()),
            Device::Cuda(_) => {}
        }
        assert_eq!(select(GpuMode::Off).unwrap().label(), "cpu");
    }
}
