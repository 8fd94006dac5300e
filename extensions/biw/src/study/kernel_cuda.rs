//! The CUDA launch of the study kernel (feature `cuda`): NVRTC compiles kernels/study.cu once per process
//! through twinloom-gpu, the batch's arrays are copied to the device, one thread runs each query, and only
//! the results come back.

use std::sync::{Arc, OnceLock};

use twinloom_gpu::cudarc::driver::{CudaFunction, CudaSlice, CudaStream, DriverError, LaunchConfig, PushKernelArg};
use twinloom_gpu::{Gpu, GpuError};

use super::batch::{decode, Batch, KernelResult, OUT_F, OUT_U};
use super::kernel::{KERNEL_FUNCTION, KERNEL_SOURCE};
use crate::error::BiwError;

/// Threads per block.
const BLOCK: u32 = 128;

/// Compiled entry points, kept for the process (device 0 is opened once per process by twinloom-gpu, so
/// one compilation serves).
pub(crate) type Compiled = OnceLock<Result<Vec<CudaFunction>, String>>;

/// Compiles `source` with NVRTC the first time and loads `functions`, in that order; later calls reuse it.
pub(crate) fn compiled(
    cell: &'static Compiled,
    gpu: &Gpu,
    kernel: &str,
    source: &str,
    functions: &[&str],
) -> Result<Vec<CudaFunction>, BiwError> {
    cell.get_or_init(|| gpu.compile(kernel, source, functions).map_err(|e| e.to_string()))
        .clone()
        .map_err(|message| BiwError::Gpu(GpuError::Compile { kernel: kernel.into(), message }))
}

/// One thread per item, `BLOCK` threads per block; `what` names the items in the error.
pub(crate) fn per_item(items: usize, what: &str) -> Result<LaunchConfig, BiwError> {
    let n = u32::try_from(items)
        .map_err(|_| BiwError::InvalidInput(format!("{items} {what}: more than one GPU launch takes")))?;
    Ok(LaunchConfig { grid_dim: (n.div_ceil(BLOCK), 1, 1), block_dim: (BLOCK, 1, 1), shared_mem_bytes: 0 })
}

pub(crate) fn driver(what: &'static str) -> impl Fn(DriverError) -> BiwError {
    move |e| BiwError::Gpu(GpuError::Driver { what: what.to_string(), message: e.to_string() })
}

/// Copies `v` to the device (one zero element when empty: the driver refuses empty allocations).
pub(crate) fn upload<T: twinloom_gpu::cudarc::driver::DeviceRepr + Default + Clone>(
    s: &Arc<CudaStream>,
    v: &[T],
) -> Result<CudaSlice<T>, BiwError> {
    if v.is_empty() {
        s.clone_htod(&[T::default()][..]).map_err(driver("copying the study data to the GPU"))
    } else {
        s.clone_htod(v).map_err(driver("copying the study data to the GPU"))
    }
}

/// Runs every query of `batch` on the GPU, one thread per query.
pub fn run_cuda(gpu: &Gpu, batch: &Batch<'_>) -> Result<Vec<KernelResult>, BiwError> {
    let n = batch.len();
    if n == 0 {
        return Ok(Vec::new());
    }
    let cfg = per_item(n, "study queries")?;
    let n32 = n as u32; // per_item checked that it fits
    static COMPILED: Compiled = OnceLock::new();
    let f = &compiled(&COMPILED, gpu, "biw_study", KERNEL_SOURCE, &[KERNEL_FUNCTION])?[0];
    let s = gpu.stream();
    let node_f = upload(s, &batch.node_f)?;
    let node_u = upload(s, &batch.node_u)?;
    let tri = upload(s, &batch.tri)?;
    let tri_id = upload(s, &batch.tri_id)?;
    let col_u = upload(s, &batch.col_u)?;
    let col_f = upload(s, &batch.col_f)?;
    let pose = upload(s, &batch.pose)?;
    let query = upload(s, &batch.query)?;
    let alloc = driver("allocating the study results on the GPU");
    let mut out_f = s.alloc_zeros::<f64>(n * OUT_F).map_err(&alloc)?;
    let mut out_u = s.alloc_zeros::<u32>(n * OUT_U).map_err(&alloc)?;
    let mut launch = s.launch_builder(f);
    launch
        .arg(&node_f)
        .arg(&node_u)
        .arg(&tri)
        .arg(&tri_id)
        .arg(&col_u)
        .arg(&col_f)
        .arg(&pose)
        .arg(&query)
        .arg(&mut out_f)
        .arg(&mut out_u)
        .arg(&n32);
    // SAFETY: the arguments match tl_biw_study's parameters in kernels/study.cu (eight input arrays in the
    // batch layout, whose indices `Batch::push` keeps in range; two outputs of n results; n as u32).
    unsafe { launch.launch(cfg) }.map_err(driver("launching the study kernel"))?;
    let read = driver("copying the study results from the GPU");
    let host_f = s.clone_dtoh(&out_f).map_err(&read)?;
    let host_u = s.clone_dtoh(&out_u).map_err(&read)?;
    s.synchronize().map_err(driver("waiting for the study kernel"))?;
    Ok(decode(&host_f, &host_u))
}
