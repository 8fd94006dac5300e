//! The cxx bridge: the few C++ functions of the shim (cpp/shim.cc) and the plain data crossing the boundary.
//! Everything here is private to the crate; `layer.rs` and `writer.rs` wrap it in a safe API.

#[cxx::bridge(namespace = "twinloom")]
pub(crate) mod ffi {
    /// A typed value in transit: `type_name` is an Sdf value type name (`double`, `float3[]`, …);
    /// numbers go in `reals` or `ints` (flattened, row-major), text in `strings`.
    #[derive(Debug, Clone, Default)]
    struct FfiValue {
        type_name: String,
        reals: Vec<f64>,
        ints: Vec<i64>,
        strings: Vec<String>,
    }

    /// What a prim spec holds (read back).
    #[derive(Debug, Clone, Default)]
    struct FfiPrimInfo {
        /// 0 def, 1 over, 2 class.
        specifier: u8,
        type_name: String,
        children: Vec<String>,
        properties: Vec<String>,
    }

    /// What an attribute spec holds besides its values (read back).
    #[derive(Debug, Clone, Default)]
    struct FfiAttributeInfo {
        type_name: String,
        /// 0 varying, 1 uniform.
        variability: u8,
        custom: bool,
        time_samples: Vec<f64>,
        has_default: bool,
    }

    /// The time samples of one attribute in a time range (read back in bulk).
    #[derive(Debug, Clone, Default)]
    struct FfiTimeSamples {
        times: Vec<f64>,
        /// The values, except for `double` and `float` attributes, whose values are in `reals` (no
        /// allocation per sample: a day at 1 Hz is 86,400 of them).
        values: Vec<FfiValue>,
        type_name: String,
        reals: Vec<f64>,
    }

    /// One tick of value edits for a layer writer: typed columns of (interned handle, value).
    /// Vector columns are flattened (3 per float3/double3, 4 per quatf as w,x,y,z).
    #[derive(Debug, Clone, Default)]
    struct TickColumns {
        /// When `has_time`, values become time samples at `time`; otherwise defaults.
        has_time: bool,
        time: f64,
        bool_handles: Vec<u32>,
        bool_values: Vec<u8>,
        int_handles: Vec<u32>,
        int_values: Vec<i32>,
        int64_handles: Vec<u32>,
        int64_values: Vec<i64>,
        float_handles: Vec<u32>,
        float_values: Vec<f32>,
        double_handles: Vec<u32>,
        double_values: Vec<f64>,
        float3_handles: Vec<u32>,
        float3_values: Vec<f32>,
        double3_handles: Vec<u32>,
        double3_values: Vec<f64>,
        quatf_handles: Vec<u32>,
        quatf_values: Vec<f32>,
        string_handles: Vec<u32>,
        string_values: Vec<String>,
        token_handles: Vec<u32>,
        token_values: Vec<String>,
    }

    unsafe extern "C++" {
        include!("shim.h");

        type Layer;

        /// Registers OpenUSD's plugins (file formats, asset resolver) from the given folders; idempotent.
        fn register_plugins(paths: &Vec<String>) -> Result<()>;

        fn layer_create_new(path: &str) -> Result<UniquePtr<Layer>>;
        fn layer_create_anonymous(tag: &str, format: &str) -> Result<UniquePtr<Layer>>;
        fn layer_open(path: &str) -> Result<UniquePtr<Layer>>;
        fn identifier(self: &Layer) -> String;
        fn real_path(self: &Layer) -> String;
        fn export_to(self: &Layer, path: &str) -> Result<()>;
        fn export_to_string(self: &Layer) -> Result<String>;

        fn set_field(self: Pin<&mut Layer>, path: &str, key: &str, value: &FfiValue) -> Result<()>;
        fn get_field(self: &Layer, path: &str, key: &str) -> Result<FfiValue>;
        fn clear_field(self: Pin<&mut Layer>, path: &str, key: &str) -> Result<()>;
        fn set_custom_layer_data(self: Pin<&mut Layer>, key_path: &str, value: &FfiValue) -> Result<()>;
        fn custom_layer_data_keys(self: &Layer) -> Result<Vec<String>>;
        fn get_custom_layer_data(self: &Layer, key_path: &str) -> Result<FfiValue>;
        fn set_sublayers(self: Pin<&mut Layer>, paths: &Vec<String>) -> Result<()>;
        fn sublayers(self: &Layer) -> Vec<String>;

        fn define_prim(self: Pin<&mut Layer>, path: &str, specifier: u8, type_name: &str) -> Result<()>;
        fn set_api_schemas(self: Pin<&mut Layer>, path: &str, schemas: &Vec<String>) -> Result<()>;
        fn api_schemas(self: &Layer, path: &str) -> Result<Vec<String>>;
        fn prim_info(self: &Layer, path: &str) -> Result<FfiPrimInfo>;
        fn has_spec(self: &Layer, path: &str) -> bool;
        fn remove_spec(self: Pin<&mut Layer>, path: &str) -> Result<()>;

        fn define_attribute(
            self: Pin<&mut Layer>,
            prim_path: &str,
            name: &str,
            type_name: &str,
            uniform: bool,
            custom: bool,
        ) -> Result<()>;
        fn attribute_info(self: &Layer, path: &str) -> Result<FfiAttributeInfo>;
        fn set_default(self: Pin<&mut Layer>, path: &str, value: &FfiValue) -> Result<()>;
        /// Sets a default, creating `over` prims and a varying attribute of the value's type when missing.
        fn upsert_default(self: Pin<&mut Layer>, path: &str, value: &FfiValue) -> Result<()>;
        fn get_default(self: &Layer, path: &str) -> Result<FfiValue>;
        fn set_time_sample(self: Pin<&mut Layer>, path: &str, time: f64, value: &FfiValue) -> Result<()>;
        fn get_time_sample(self: &Layer, path: &str, time: f64) -> Result<FfiValue>;
        /// The time samples in `from..=to`, and with `with_prior` also the last one before `from`.
        fn time_samples_in(self: &Layer, path: &str, from: f64, to: f64, with_prior: bool) -> Result<FfiTimeSamples>;
        /// Authors one value-clip set (the `clips` dictionary) on a prim spec; `active` and `times` are
        /// flattened (stage time, value) pairs; an empty `manifest` authors none.
        #[allow(clippy::too_many_arguments)]
        fn set_value_clips(
            self: Pin<&mut Layer>,
            prim_path: &str,
            clip_set: &str,
            asset_paths: &Vec<String>,
            clip_prim_path: &str,
            active: &Vec<f64>,
            times: &Vec<f64>,
            manifest: &str,
            interpolate_missing: bool,
        ) -> Result<()>;

        fn define_relationship(
            self: Pin<&mut Layer>,
            prim_path: &str,
            name: &str,
            targets: &Vec<String>,
            custom: bool,
        ) -> Result<()>;
        fn relationship_targets(self: &Layer, path: &str) -> Result<Vec<String>>;

        /// Interns an attribute for the batch path: creates `over` prims and the attribute spec when
        /// missing, checks the type, returns its handle.
        fn intern_attribute(self: Pin<&mut Layer>, prim_path: &str, name: &str, type_name: &str) -> Result<u32>;
        /// Applies one tick inside one SdfChangeBlock; returns the number of values written.
        fn apply_tick(self: Pin<&mut Layer>, tick: &TickColumns) -> Result<usize>;
        /// The default value of every interned attribute that has one, as tick columns (values of a type
        /// the columns do not carry are skipped).
        fn read_defaults(self: &Layer) -> Result<TickColumns>;
        /// Opens an SdfChangeBlock held by the layer until the matching `end_changes` (same thread).
        fn begin_changes(self: Pin<&mut Layer>);
        /// Closes the innermost block `begin_changes` opened (nothing when none is open).
        fn end_changes(self: Pin<&mut Layer>);
    }
}
