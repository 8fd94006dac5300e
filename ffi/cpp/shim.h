// The C++ side of twinloom-usd: a handful of batch-friendly functions over OpenUSD's Sdf layer API.
// Every function reports OpenUSD's diagnostics (TfError) and our own checks as C++ exceptions, which cxx
// turns into Rust errors; messages start with a category tag: [path] [name] [type] [usd] [io].
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "rust/cxx.h"
#include "twinloom_pxr_includes.h"

namespace twinloom {

struct FfiValue;
struct FfiPrimInfo;
struct FfiAttributeInfo;
struct FfiTimeSamples;
struct TickColumns;

class Layer {
public:
    explicit Layer(pxr::SdfLayerRefPtr layer) : layer_(std::move(layer)) {}

    rust::String identifier() const;
    rust::String real_path() const;
    void export_to(rust::Str path) const;
    rust::String export_to_string() const;

    void set_field(rust::Str path, rust::Str key, const FfiValue& value);
    FfiValue get_field(rust::Str path, rust::Str key) const;
    void clear_field(rust::Str path, rust::Str key);
    void set_custom_layer_data(rust::Str key_path, const FfiValue& value);
    rust::Vec<rust::String> custom_layer_data_keys() const;
    FfiValue get_custom_layer_data(rust::Str key_path) const;
    void set_sublayers(const rust::Vec<rust::String>& paths);
    rust::Vec<rust::String> sublayers() const;

    void define_prim(rust::Str path, uint8_t specifier, rust::Str type_name);
    void set_api_schemas(rust::Str path, const rust::Vec<rust::String>& schemas);
    rust::Vec<rust::String> api_schemas(rust::Str path) const;
    FfiPrimInfo prim_info(rust::Str path) const;
    bool has_spec(rust::Str path) const;
    void remove_spec(rust::Str path);

    void define_attribute(rust::Str prim_path, rust::Str name, rust::Str type_name, bool uniform, bool custom);
    FfiAttributeInfo attribute_info(rust::Str path) const;
    void set_default(rust::Str path, const FfiValue& value);
    void upsert_default(rust::Str path, const FfiValue& value);
    FfiValue get_default(rust::Str path) const;
    void set_time_sample(rust::Str path, double time, const FfiValue& value);
    FfiValue get_time_sample(rust::Str path, double time) const;
    FfiTimeSamples time_samples_in(rust::Str path, double from, double to, bool with_prior) const;
    void set_value_clips(rust::Str prim_path, rust::Str clip_set, const rust::Vec<rust::String>& asset_paths,
                         rust::Str clip_prim_path, const rust::Vec<double>& active, const rust::Vec<double>& times,
                         rust::Str manifest, bool interpolate_missing);

    void define_relationship(rust::Str prim_path, rust::Str name, const rust::Vec<rust::String>& targets, bool custom);
    rust::Vec<rust::String> relationship_targets(rust::Str path) const;

    uint32_t intern_attribute(rust::Str prim_path, rust::Str name, rust::Str type_name);
    size_t apply_tick(const TickColumns& tick);
    TickColumns read_defaults() const;

    void begin_changes();
    void end_changes();

private:
    pxr::SdfLayerRefPtr layer_;
    // Interned attribute paths of the batch path, indexed by handle.
    std::vector<pxr::SdfPath> attrs_;
    // Open change blocks of begin_changes/end_changes (innermost last).
    std::vector<std::unique_ptr<pxr::SdfChangeBlock>> blocks_;
};

void register_plugins(const rust::Vec<rust::String>& paths);
std::unique_ptr<Layer> layer_create_new(rust::Str path);
std::unique_ptr<Layer> layer_create_anonymous(rust::Str tag, rust::Str format);
std::unique_ptr<Layer> layer_open(rust::Str path);

}  // namespace twinloom
