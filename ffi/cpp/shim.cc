// The C++ shim of twinloom-usd: converts between the bridge's plain values and OpenUSD's VtValue, and wraps
// the Sdf calls the Rust side needs. Each entry point runs under a TfErrorMark so OpenUSD's diagnostics come
// back as exceptions (and so as Rust errors), never as aborts or stray prints.
#include "shim.h"

#include <cmath>
#include <iterator>
#include <set>
#include <stdexcept>
#include <type_traits>
#include <unordered_map>

#include "twinloom-usd/src/bridge.rs.h"

using namespace pxr;

namespace twinloom {
namespace {

std::string S(rust::Str s) { return std::string(s.data(), s.size()); }

[[noreturn]] void Fail(const char* tag, const std::string& msg) {
    throw std::runtime_error(std::string("[") + tag + "] " + msg);
}

// The text of the OpenUSD errors raised since `mark`, which is then cleared.
std::string TakeErrors(TfErrorMark& mark) {
    std::string msg;
    for (auto it = mark.GetBegin(); it != mark.GetEnd(); ++it) {
        if (!msg.empty()) msg += "; ";
        msg += it->GetCommentary();
    }
    mark.Clear();
    return msg;
}

// Turns pending OpenUSD errors into an exception carrying their text; `what()` names the operation.
template <class W>
void ThrowIfErrors(TfErrorMark& mark, W&& what) {
    if (mark.IsClean()) return;
    Fail("usd", what() + ": " + TakeErrors(mark));
}

// Runs `f` collecting OpenUSD errors; our own exceptions keep their tag and gain OpenUSD's text.
// `what` builds the operation's description only when there is an error: SdfPath::GetString() caches a
// token per path for the life of the path, which costs memory and time per edit on the hot path.
template <class W, class F>
auto Guarded(W&& what, F&& f) -> decltype(f()) {
    TfErrorMark mark;
    try {
        if constexpr (std::is_void_v<decltype(f())>) {
            f();
            ThrowIfErrors(mark, what);
        } else {
            auto r = f();
            ThrowIfErrors(mark, what);
            return r;
        }
    } catch (const std::runtime_error& e) {
        std::string usd = TakeErrors(mark);
        if (usd.empty()) throw;
        throw std::runtime_error(std::string(e.what()) + " (OpenUSD: " + usd + ")");
    } catch (...) {
        mark.Clear();
        throw;
    }
}

SdfPath ParsePath(rust::Str text) {
    // Parsing a path (twice: validate, then build) costs far more than a hash lookup, and writers name the
    // same prims and attributes over and over: each thread keeps the absolute paths it parsed, up to a cap.
    thread_local std::unordered_map<std::string, SdfPath> parsed;
    std::string s = S(text);
    if (auto it = parsed.find(s); it != parsed.end()) return it->second;
    std::string err;
    if (!SdfPath::IsValidPathString(s, &err)) Fail("path", "'" + s + "' is not a valid path: " + err);
    SdfPath p(s);
    if (!p.IsAbsolutePath()) Fail("path", "'" + s + "' is not an absolute path");
    if (parsed.size() >= 65536) parsed.clear();
    parsed.emplace(std::move(s), p);
    return p;
}

SdfPath ParsePrimPath(rust::Str text) {
    SdfPath p = ParsePath(text);
    if (!p.IsPrimPath()) Fail("path", "'" + p.GetString() + "' is not a prim path");
    return p;
}

SdfValueTypeName FindType(const std::string& name) {
    SdfValueTypeName t = SdfSchema::GetInstance().FindType(name);
    if (!t) Fail("type", "'" + name + "' is not an Sdf value type name");
    return t;
}

void Need(const FfiValue& v, size_t reals, size_t ints, size_t strings) {
    if (v.reals.size() != reals || v.ints.size() != ints || v.strings.size() != strings) {
        Fail("type", "value of type " + std::string(v.type_name) + " has the wrong number of components");
    }
}

template <class V, size_t N>
V VecFrom(const double* d) {
    V v;
    for (size_t i = 0; i < N; ++i) v[i] = static_cast<typename V::ScalarType>(d[i]);
    return v;
}

template <class V, size_t N>
VtArray<V> VecArrayFrom(const FfiValue& v) {
    if (v.reals.size() % N != 0) Fail("type", std::string(v.type_name) + " needs a multiple of " + std::to_string(N) + " numbers");
    VtArray<V> out(v.reals.size() / N);
    for (size_t i = 0; i < out.size(); ++i) out[i] = VecFrom<V, N>(v.reals.data() + i * N);
    return out;
}

template <class T>
VtArray<T> ScalarArrayFromReals(const FfiValue& v) {
    VtArray<T> out(v.reals.size());
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<T>(v.reals[i]);
    return out;
}

// FfiValue -> VtValue, by the value's own type name. Roles (point3f vs float3) share the C++ type.
VtValue ToVt(const FfiValue& v) {
    const std::string name(v.type_name);
    SdfValueTypeName t = FindType(name);
    const TfType ty = t.GetType();
    auto is = [&](auto* tag) { return ty == TfType::Find<std::remove_pointer_t<decltype(tag)>>(); };
    if (is((bool*)nullptr)) { Need(v, 0, 1, 0); return VtValue(v.ints[0] != 0); }
    if (is((int*)nullptr)) { Need(v, 0, 1, 0); return VtValue(static_cast<int>(v.ints[0])); }
    if (is((int64_t*)nullptr)) { Need(v, 0, 1, 0); return VtValue(static_cast<int64_t>(v.ints[0])); }
    if (is((unsigned int*)nullptr)) { Need(v, 0, 1, 0); return VtValue(static_cast<unsigned int>(v.ints[0])); }
    if (is((float*)nullptr)) { Need(v, 1, 0, 0); return VtValue(static_cast<float>(v.reals[0])); }
    if (is((double*)nullptr)) { Need(v, 1, 0, 0); return VtValue(v.reals[0]); }
    if (is((std::string*)nullptr)) { Need(v, 0, 0, 1); return VtValue(std::string(v.strings[0])); }
    if (is((TfToken*)nullptr)) { Need(v, 0, 0, 1); return VtValue(TfToken(std::string(v.strings[0]))); }
    if (is((SdfAssetPath*)nullptr)) { Need(v, 0, 0, 1); return VtValue(SdfAssetPath(std::string(v.strings[0]))); }
    if (is((GfVec2f*)nullptr)) { Need(v, 2, 0, 0); return VtValue(VecFrom<GfVec2f, 2>(v.reals.data())); }
    if (is((GfVec3f*)nullptr)) { Need(v, 3, 0, 0); return VtValue(VecFrom<GfVec3f, 3>(v.reals.data())); }
    if (is((GfVec3d*)nullptr)) { Need(v, 3, 0, 0); return VtValue(VecFrom<GfVec3d, 3>(v.reals.data())); }
    if (is((GfQuatf*)nullptr)) {
        Need(v, 4, 0, 0);
        const double* d = v.reals.data();
        return VtValue(GfQuatf(float(d[0]), float(d[1]), float(d[2]), float(d[3])));
    }
    if (is((GfQuatd*)nullptr)) {
        Need(v, 4, 0, 0);
        const double* d = v.reals.data();
        return VtValue(GfQuatd(d[0], d[1], d[2], d[3]));
    }
    if (is((GfMatrix4d*)nullptr)) {
        Need(v, 16, 0, 0);
        GfMatrix4d m;
        double* out = m.data();
        for (int i = 0; i < 16; ++i) out[i] = v.reals[i];
        return VtValue(m);
    }
    if (is((VtArray<int>*)nullptr)) {
        VtArray<int> out(v.ints.size());
        for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<int>(v.ints[i]);
        return VtValue(out);
    }
    if (is((VtArray<int64_t>*)nullptr)) {
        VtArray<int64_t> out(v.ints.size());
        for (size_t i = 0; i < out.size(); ++i) out[i] = v.ints[i];
        return VtValue(out);
    }
    if (is((VtArray<bool>*)nullptr)) {
        VtArray<bool> out(v.ints.size());
        for (size_t i = 0; i < out.size(); ++i) out[i] = v.ints[i] != 0;
        return VtValue(out);
    }
    if (is((VtArray<float>*)nullptr)) return VtValue(ScalarArrayFromReals<float>(v));
    if (is((VtArray<double>*)nullptr)) return VtValue(ScalarArrayFromReals<double>(v));
    if (is((VtArray<GfVec2f>*)nullptr)) return VtValue(VecArrayFrom<GfVec2f, 2>(v));
    if (is((VtArray<GfVec3f>*)nullptr)) return VtValue(VecArrayFrom<GfVec3f, 3>(v));
    if (is((VtArray<GfVec3d>*)nullptr)) return VtValue(VecArrayFrom<GfVec3d, 3>(v));
    if (is((VtArray<TfToken>*)nullptr)) {
        VtArray<TfToken> out(v.strings.size());
        for (size_t i = 0; i < out.size(); ++i) out[i] = TfToken(std::string(v.strings[i]));
        return VtValue(out);
    }
    if (is((VtArray<std::string>*)nullptr)) {
        VtArray<std::string> out(v.strings.size());
        for (size_t i = 0; i < out.size(); ++i) out[i] = std::string(v.strings[i]);
        return VtValue(out);
    }
    if (is((VtArray<SdfAssetPath>*)nullptr)) {
        VtArray<SdfAssetPath> out(v.strings.size());
        for (size_t i = 0; i < out.size(); ++i) out[i] = SdfAssetPath(std::string(v.strings[i]));
        return VtValue(out);
    }
    Fail("type", "values of type " + name + " are not supported by the bridge");
}

template <class V>
void PushVec(FfiValue& out, const V& v) {
    for (size_t i = 0; i < V::dimension; ++i) out.reals.push_back(static_cast<double>(v[i]));
}

// VtValue -> FfiValue. `type_name` is the attribute's declared type (keeps roles) or empty to derive it.
FfiValue FromVt(const VtValue& val, const std::string& type_name) {
    FfiValue out;
    if (val.IsEmpty()) return out;
    std::string name = type_name;
    if (name.empty()) {
        SdfValueTypeName t = SdfSchema::GetInstance().FindType(val);
        name = t ? t.GetAsToken().GetString() : std::string();
    }
    out.type_name = name;
    if (val.IsHolding<bool>()) { out.ints.push_back(val.UncheckedGet<bool>()); return out; }
    if (val.IsHolding<int>()) { out.ints.push_back(val.UncheckedGet<int>()); return out; }
    if (val.IsHolding<int64_t>()) { out.ints.push_back(val.UncheckedGet<int64_t>()); return out; }
    if (val.IsHolding<unsigned int>()) { out.ints.push_back(val.UncheckedGet<unsigned int>()); return out; }
    if (val.IsHolding<float>()) { out.reals.push_back(val.UncheckedGet<float>()); return out; }
    if (val.IsHolding<double>()) { out.reals.push_back(val.UncheckedGet<double>()); return out; }
    if (val.IsHolding<std::string>()) { out.strings.push_back(val.UncheckedGet<std::string>()); return out; }
    if (val.IsHolding<TfToken>()) { out.strings.push_back(val.UncheckedGet<TfToken>().GetString()); return out; }
    if (val.IsHolding<SdfAssetPath>()) { out.strings.push_back(val.UncheckedGet<SdfAssetPath>().GetAssetPath()); return out; }
    if (val.IsHolding<GfVec2f>()) { PushVec(out, val.UncheckedGet<GfVec2f>()); return out; }
    if (val.IsHolding<GfVec3f>()) { PushVec(out, val.UncheckedGet<GfVec3f>()); return out; }
    if (val.IsHolding<GfVec3d>()) { PushVec(out, val.UncheckedGet<GfVec3d>()); return out; }
    if (val.IsHolding<GfQuatf>()) {
        const GfQuatf& q = val.UncheckedGet<GfQuatf>();
        out.reals = {q.GetReal(), q.GetImaginary()[0], q.GetImaginary()[1], q.GetImaginary()[2]};
        return out;
    }
    if (val.IsHolding<GfQuatd>()) {
        const GfQuatd& q = val.UncheckedGet<GfQuatd>();
        out.reals = {q.GetReal(), q.GetImaginary()[0], q.GetImaginary()[1], q.GetImaginary()[2]};
        return out;
    }
    if (val.IsHolding<GfMatrix4d>()) {
        const double* d = val.UncheckedGet<GfMatrix4d>().data();
        for (int i = 0; i < 16; ++i) out.reals.push_back(d[i]);
        return out;
    }
    if (val.IsHolding<VtArray<int>>()) { for (int x : val.UncheckedGet<VtArray<int>>()) out.ints.push_back(x); return out; }
    if (val.IsHolding<VtArray<int64_t>>()) { for (int64_t x : val.UncheckedGet<VtArray<int64_t>>()) out.ints.push_back(x); return out; }
    if (val.IsHolding<VtArray<bool>>()) { for (bool x : val.UncheckedGet<VtArray<bool>>()) out.ints.push_back(x); return out; }
    if (val.IsHolding<VtArray<float>>()) { for (float x : val.UncheckedGet<VtArray<float>>()) out.reals.push_back(x); return out; }
    if (val.IsHolding<VtArray<double>>()) { for (double x : val.UncheckedGet<VtArray<double>>()) out.reals.push_back(x); return out; }
    if (val.IsHolding<VtArray<GfVec2f>>()) { for (const auto& x : val.UncheckedGet<VtArray<GfVec2f>>()) PushVec(out, x); return out; }
    if (val.IsHolding<VtArray<GfVec3f>>()) { for (const auto& x : val.UncheckedGet<VtArray<GfVec3f>>()) PushVec(out, x); return out; }
    if (val.IsHolding<VtArray<GfVec3d>>()) { for (const auto& x : val.UncheckedGet<VtArray<GfVec3d>>()) PushVec(out, x); return out; }
    if (val.IsHolding<VtArray<TfToken>>()) { for (const auto& x : val.UncheckedGet<VtArray<TfToken>>()) out.strings.push_back(x.GetString()); return out; }
    if (val.IsHolding<VtArray<std::string>>()) { for (const auto& x : val.UncheckedGet<VtArray<std::string>>()) out.strings.push_back(x); return out; }
    if (val.IsHolding<VtArray<SdfAssetPath>>()) { for (const auto& x : val.UncheckedGet<VtArray<SdfAssetPath>>()) out.strings.push_back(x.GetAssetPath()); return out; }
    if (val.IsHolding<SdfTokenListOp>()) {
        out.type_name = "token[]";
        for (const auto& x : val.UncheckedGet<SdfTokenListOp>().GetAppliedItems()) out.strings.push_back(x.GetString());
        return out;
    }
    if (val.IsHolding<SdfSpecifier>()) {
        out.type_name = "token";
        out.strings.push_back(TfEnum::GetName(val.UncheckedGet<SdfSpecifier>()));
        return out;
    }
    if (val.IsHolding<SdfVariability>()) {
        out.type_name = "token";
        out.strings.push_back(TfEnum::GetName(val.UncheckedGet<SdfVariability>()));
        return out;
    }
    Fail("type", "values held as " + val.GetTypeName() + " are not supported by the bridge");
}

SdfSpecHandle SpecAt(const SdfLayerRefPtr& layer, const SdfPath& path) {
    SdfSpecHandle spec = layer->GetObjectAtPath(path);
    if (!spec) Fail("path", "no spec at " + path.GetString() + " in " + layer->GetIdentifier());
    return spec;
}

SdfPrimSpecHandle PrimAt(const SdfLayerRefPtr& layer, const SdfPath& path) {
    SdfPrimSpecHandle prim = path.IsAbsoluteRootPath() ? layer->GetPseudoRoot() : layer->GetPrimAtPath(path);
    if (!prim) Fail("path", "no prim spec at " + path.GetString() + " in " + layer->GetIdentifier());
    return prim;
}

SdfAttributeSpecHandle AttributeAt(const SdfLayerRefPtr& layer, const SdfPath& path) {
    if (!path.IsPrimPropertyPath()) Fail("path", "'" + path.GetString() + "' is not an attribute path");
    SdfAttributeSpecHandle attr = layer->GetAttributeAtPath(path);
    if (!attr) Fail("path", "no attribute spec at " + path.GetString() + " in " + layer->GetIdentifier());
    return attr;
}

void CheckName(rust::Str name) {
    std::string s = S(name);
    if (!SdfPath::IsValidNamespacedIdentifier(s)) Fail("name", "'" + s + "' is not a valid USD property name");
}

// A value for an attribute must have the attribute's C++ type (roles may differ: point3f vs float3).
VtValue ValueFor(const SdfAttributeSpecHandle& attr, const FfiValue& value) {
    SdfValueTypeName want = attr->GetTypeName();
    SdfValueTypeName got = FindType(std::string(value.type_name));
    if (want.GetType() != got.GetType()) {
        Fail("type", "attribute " + attr->GetPath().GetString() + " is " + want.GetAsToken().GetString() +
                         ", the value is " + got.GetAsToken().GetString());
    }
    return ToVt(value);
}

rust::Vec<rust::String> ToRustStrings(const std::vector<std::string>& v) {
    rust::Vec<rust::String> out;
    out.reserve(v.size());
    for (const auto& s : v) out.push_back(rust::String(s));
    return out;
}

}  // namespace

void register_plugins(const rust::Vec<rust::String>& paths) {
    std::vector<std::string> p;
    for (const auto& s : paths) p.emplace_back(std::string(s));
    Guarded([&] { return std::string("register plugins"); }, [&] { PlugRegistry::GetInstance().RegisterPlugins(p); });
}

std::unique_ptr<Layer> layer_create_new(rust::Str path) {
    std::string p = S(path);
    return Guarded([&] { return std::string("create layer " + p); }, [&] {
        SdfLayerRefPtr layer = SdfLayer::CreateNew(p);
        if (!layer) Fail("io", "cannot create layer " + p);
        return std::make_unique<Layer>(layer);
    });
}

std::unique_ptr<Layer> layer_create_anonymous(rust::Str tag, rust::Str format) {
    std::string f = S(format);
    return Guarded([&] { return std::string("create anonymous layer"); }, [&] {
        SdfFileFormatConstPtr fmt = SdfFileFormat::FindById(TfToken(f.empty() ? "usda" : f));
        if (!fmt) Fail("type", "unknown layer file format '" + f + "'");
        SdfLayerRefPtr layer = SdfLayer::CreateAnonymous(S(tag), fmt);
        if (!layer) Fail("usd", "cannot create an anonymous layer");
        return std::make_unique<Layer>(layer);
    });
}

std::unique_ptr<Layer> layer_open(rust::Str path) {
    std::string p = S(path);
    return Guarded([&] { return std::string("open layer " + p); }, [&] {
        SdfLayerRefPtr layer = SdfLayer::FindOrOpen(p);
        if (!layer) Fail("io", "cannot open layer " + p);
        return std::make_unique<Layer>(layer);
    });
}

rust::String Layer::identifier() const { return rust::String(layer_->GetIdentifier()); }
rust::String Layer::real_path() const { return rust::String(layer_->GetRealPath()); }

void Layer::export_to(rust::Str path) const {
    std::string p = S(path);
    Guarded([&] { return std::string("export to " + p); }, [&] {
        if (!layer_->Export(p)) Fail("io", "exporting " + layer_->GetIdentifier() + " to " + p + " failed");
    });
}

rust::String Layer::export_to_string() const {
    return Guarded([&] { return std::string("export to string"); }, [&] {
        std::string out;
        if (!layer_->ExportToString(&out)) Fail("usd", "exporting to a string failed");
        return rust::String(out);
    });
}

void Layer::set_field(rust::Str path, rust::Str key, const FfiValue& value) {
    SdfPath p = ParsePath(path);
    std::string k = S(key);
    Guarded([&] { return std::string("set " + k + " on " + p.GetString()); }, [&] {
        SdfSpecHandle spec = SpecAt(layer_, p);
        TfToken field(k);
        if (!SdfSchema::GetInstance().IsRegistered(field)) Fail("name", "'" + k + "' is not a registered metadata field");
        VtValue v = ToVt(value);
        // Metadata fields declare their value type; convert compatible numbers (e.g. int -> double).
        VtValue fallback = SdfSchema::GetInstance().GetFallback(field);
        if (!fallback.IsEmpty() && fallback.GetType() != v.GetType()) {
            VtValue cast = VtValue::CastToTypeOf(v, fallback);
            if (cast.IsEmpty()) Fail("type", "field " + k + " holds " + fallback.GetTypeName() + ", not " + std::string(value.type_name));
            v = cast;
        }
        spec->SetInfo(field, v);
    });
}

FfiValue Layer::get_field(rust::Str path, rust::Str key) const {
    SdfPath p = ParsePath(path);
    std::string k = S(key);
    return Guarded([&] { return std::string("get " + k + " of " + p.GetString()); }, [&] {
        VtValue v;
        if (!layer_->HasField(p, TfToken(k), &v)) return FfiValue{};
        return FromVt(v, "");
    });
}

void Layer::clear_field(rust::Str path, rust::Str key) {
    SdfPath p = ParsePath(path);
    std::string k = S(key);
    Guarded([&] { return std::string("clear " + k + " on " + p.GetString()); }, [&] { SpecAt(layer_, p)->ClearInfo(TfToken(k)); });
}

void Layer::set_custom_layer_data(rust::Str key_path, const FfiValue& value) {
    std::string k = S(key_path);
    Guarded([&] { return std::string("set customLayerData " + k); }, [&] {
        if (k.empty()) Fail("name", "customLayerData key is empty");
        VtDictionary d = layer_->GetCustomLayerData();
        d.SetValueAtPath(k, ToVt(value), ":");
        layer_->SetCustomLayerData(d);
    });
}

rust::Vec<rust::String> Layer::custom_layer_data_keys() const {
    return Guarded([&] { return std::string("list customLayerData"); }, [&] {
        std::vector<std::string> keys;
        for (const auto& kv : layer_->GetCustomLayerData()) keys.push_back(kv.first);
        return ToRustStrings(keys);
    });
}

FfiValue Layer::get_custom_layer_data(rust::Str key_path) const {
    std::string k = S(key_path);
    return Guarded([&] { return std::string("get customLayerData " + k); }, [&] {
        // GetCustomLayerData returns a copy: keep it alive while the pointer into it is read.
        const VtDictionary d = layer_->GetCustomLayerData();
        const VtValue* v = d.GetValueAtPath(k, ":");
        return v ? FromVt(*v, "") : FfiValue{};
    });
}

void Layer::set_sublayers(const rust::Vec<rust::String>& paths) {
    Guarded([&] { return std::string("set subLayers"); }, [&] {
        std::vector<std::string> p;
        for (const auto& s : paths) p.emplace_back(std::string(s));
        layer_->SetSubLayerPaths(p);
    });
}

rust::Vec<rust::String> Layer::sublayers() const {
    std::vector<std::string> p = layer_->GetSubLayerPaths();
    return ToRustStrings(p);
}

void Layer::define_prim(rust::Str path, uint8_t specifier, rust::Str type_name) {
    SdfPath p = ParsePrimPath(path);
    std::string t = S(type_name);
    Guarded([&] { return std::string("define prim " + p.GetString()); }, [&] {
        if (specifier > 2) Fail("type", "specifier must be 0 (def), 1 (over) or 2 (class)");
        if (!t.empty() && !TfIsValidIdentifier(t)) Fail("name", "'" + t + "' is not a valid type name");
        SdfPrimSpecHandle prim = SdfCreatePrimInLayer(layer_, p);
        if (!prim) Fail("usd", "cannot create prim spec " + p.GetString());
        const SdfSpecifier spec[] = {SdfSpecifierDef, SdfSpecifierOver, SdfSpecifierClass};
        prim->SetSpecifier(spec[specifier]);
        if (!t.empty()) {
            prim->SetTypeName(t);
        } else if (!prim->GetTypeName().IsEmpty()) {
            prim->ClearInfo(SdfFieldKeys->TypeName);
        }
    });
}

void Layer::set_api_schemas(rust::Str path, const rust::Vec<rust::String>& schemas) {
    SdfPath p = ParsePrimPath(path);
    Guarded([&] { return std::string("apply API schemas on " + p.GetString()); }, [&] {
        SdfPrimSpecHandle prim = PrimAt(layer_, p);
        std::vector<TfToken> items;
        for (const auto& s : schemas) {
            std::string name(s);
            // Multiple-apply schemas carry an instance name: Schema:instance.
            if (!SdfPath::IsValidNamespacedIdentifier(name)) Fail("name", "'" + name + "' is not a valid API schema name");
            items.emplace_back(name);
        }
        SdfTokenListOp op;
        op.SetPrependedItems(items);
        prim->SetInfo(TfToken("apiSchemas"), VtValue(op));
    });
}

rust::Vec<rust::String> Layer::api_schemas(rust::Str path) const {
    SdfPath p = ParsePrimPath(path);
    return Guarded([&] { return std::string("read API schemas of " + p.GetString()); }, [&] {
        SdfPrimSpecHandle prim = PrimAt(layer_, p);
        std::vector<std::string> out;
        VtValue v = prim->GetInfo(TfToken("apiSchemas"));
        if (v.IsHolding<SdfTokenListOp>()) {
            for (const auto& t : v.UncheckedGet<SdfTokenListOp>().GetAppliedItems()) out.push_back(t.GetString());
        }
        return ToRustStrings(out);
    });
}

FfiPrimInfo Layer::prim_info(rust::Str path) const {
    SdfPath p = ParsePath(path);
    return Guarded([&] { return std::string("read prim " + p.GetString()); }, [&] {
        SdfPrimSpecHandle prim = PrimAt(layer_, p);
        FfiPrimInfo info;
        info.specifier = prim->GetSpecifier() == SdfSpecifierDef ? 0 : prim->GetSpecifier() == SdfSpecifierOver ? 1 : 2;
        info.type_name = prim->GetTypeName().GetString();
        for (const auto& c : prim->GetNameChildren()) info.children.push_back(c->GetName());
        for (const auto& prop : prim->GetProperties()) info.properties.push_back(prop->GetName());
        return info;
    });
}

bool Layer::has_spec(rust::Str path) const {
    std::string s = S(path);
    if (!SdfPath::IsValidPathString(s)) return false;
    return layer_->HasSpec(SdfPath(s));
}

void Layer::remove_spec(rust::Str path) {
    SdfPath p = ParsePath(path);
    Guarded([&] { return std::string("remove " + p.GetString()); }, [&] {
        if (p.IsPrimPath()) {
            SdfPrimSpecHandle prim = PrimAt(layer_, p);
            SdfPrimSpecHandle parent = PrimAt(layer_, p.GetParentPath());
            if (!parent->RemoveNameChild(prim)) Fail("usd", "cannot remove " + p.GetString());
        } else if (p.IsPrimPropertyPath()) {
            SdfPropertySpecHandle prop = layer_->GetPropertyAtPath(p);
            if (!prop) Fail("path", "no property spec at " + p.GetString());
            PrimAt(layer_, p.GetPrimPath())->RemoveProperty(prop);
        } else {
            Fail("path", "'" + p.GetString() + "' is neither a prim nor a property path");
        }
    });
}

void Layer::define_attribute(rust::Str prim_path, rust::Str name, rust::Str type_name, bool uniform, bool custom) {
    SdfPath p = ParsePrimPath(prim_path);
    CheckName(name);
    std::string n = S(name), t = S(type_name);
    Guarded([&] { return std::string("define attribute " + p.GetString() + "." + n); }, [&] {
        SdfPrimSpecHandle prim = PrimAt(layer_, p);
        SdfValueTypeName type = FindType(t);
        SdfVariability var = uniform ? SdfVariabilityUniform : SdfVariabilityVarying;
        SdfAttributeSpecHandle attr = layer_->GetAttributeAtPath(p.AppendProperty(TfToken(n)));
        if (attr) {
            if (attr->GetTypeName() != type) {
                Fail("type", "attribute " + attr->GetPath().GetString() + " already exists as " + attr->GetTypeName().GetAsToken().GetString());
            }
            if (attr->GetVariability() != var) Fail("type", "attribute " + attr->GetPath().GetString() + " already exists with another variability");
            attr->SetCustom(custom);
            return;
        }
        if (layer_->GetPropertyAtPath(p.AppendProperty(TfToken(n)))) Fail("name", n + " already exists on " + p.GetString() + " as a relationship");
        if (!SdfAttributeSpec::New(prim, n, type, var, custom)) Fail("usd", "cannot create attribute " + n);
    });
}

FfiAttributeInfo Layer::attribute_info(rust::Str path) const {
    SdfPath p = ParsePath(path);
    return Guarded([&] { return std::string("read attribute " + p.GetString()); }, [&] {
        SdfAttributeSpecHandle attr = AttributeAt(layer_, p);
        FfiAttributeInfo info;
        info.type_name = attr->GetTypeName().GetAsToken().GetString();
        info.variability = attr->GetVariability() == SdfVariabilityUniform ? 1 : 0;
        info.custom = attr->IsCustom();
        for (double t : layer_->ListTimeSamplesForPath(p)) info.time_samples.push_back(t);
        info.has_default = attr->HasDefaultValue();
        return info;
    });
}

void Layer::set_default(rust::Str path, const FfiValue& value) {
    SdfPath p = ParsePath(path);
    Guarded([&] { return std::string("set default of " + p.GetString()); }, [&] {
        SdfAttributeSpecHandle attr = AttributeAt(layer_, p);
        if (!attr->SetDefaultValue(ValueFor(attr, value))) Fail("usd", "cannot set default");
    });
}

void Layer::upsert_default(rust::Str path, const FfiValue& value) {
    SdfPath p = ParsePath(path);
    if (!p.IsPrimPropertyPath()) Fail("path", "'" + p.GetString() + "' is not a property path");
    Guarded([&] { return std::string("set default of " + p.GetString()); }, [&] {
        SdfAttributeSpecHandle attr = layer_->GetAttributeAtPath(p);
        if (!attr) {
            SdfValueTypeName type = FindType(std::string(value.type_name));
            SdfPath primPath = p.GetPrimPath();
            SdfPrimSpecHandle prim = layer_->GetPrimAtPath(primPath);
            if (!prim) prim = SdfCreatePrimInLayer(layer_, primPath);  // `over` specs up to the root
            if (!prim) Fail("usd", "cannot create prim spec " + primPath.GetString());
            if (layer_->GetPropertyAtPath(p)) Fail("name", p.GetName() + " exists on " + primPath.GetString() + " as a relationship");
            attr = SdfAttributeSpec::New(prim, p.GetName(), type, SdfVariabilityVarying, /*custom=*/false);
            if (!attr) Fail("usd", "cannot create attribute " + p.GetString());
        }
        if (!attr->SetDefaultValue(ValueFor(attr, value))) Fail("usd", "cannot set default");
    });
}

void Layer::begin_changes() { blocks_.push_back(std::make_unique<SdfChangeBlock>()); }

void Layer::end_changes() {
    if (!blocks_.empty()) blocks_.pop_back();
}

FfiValue Layer::get_default(rust::Str path) const {
    SdfPath p = ParsePath(path);
    return Guarded([&] { return std::string("get default of " + p.GetString()); }, [&] {
        SdfAttributeSpecHandle attr = AttributeAt(layer_, p);
        return FromVt(attr->GetDefaultValue(), attr->GetTypeName().GetAsToken().GetString());
    });
}

void Layer::set_time_sample(rust::Str path, double time, const FfiValue& value) {
    SdfPath p = ParsePath(path);
    Guarded([&] { return std::string("set time sample of " + p.GetString()); }, [&] {
        if (!std::isfinite(time)) Fail("type", "time code must be finite");
        SdfAttributeSpecHandle attr = AttributeAt(layer_, p);
        if (attr->GetVariability() == SdfVariabilityUniform) Fail("type", "attribute " + p.GetString() + " is uniform: it cannot have time samples");
        layer_->SetTimeSample(p, time, ValueFor(attr, value));
    });
}

FfiValue Layer::get_time_sample(rust::Str path, double time) const {
    SdfPath p = ParsePath(path);
    return Guarded([&] { return std::string("get time sample of " + p.GetString()); }, [&] {
        SdfAttributeSpecHandle attr = AttributeAt(layer_, p);
        VtValue v;
        if (!layer_->QueryTimeSample(p, time, &v)) return FfiValue{};
        return FromVt(v, attr->GetTypeName().GetAsToken().GetString());
    });
}

FfiTimeSamples Layer::time_samples_in(rust::Str path, double from, double to, bool with_prior) const {
    SdfPath p = ParsePath(path);
    return Guarded([&] { return std::string("read time samples of " + p.GetString()); }, [&] {
        SdfAttributeSpecHandle attr = AttributeAt(layer_, p);
        std::string type = attr->GetTypeName().GetAsToken().GetString();
        FfiTimeSamples out;
        out.type_name = type;
        const bool real = type == "double" || type == "float";
        auto push = [&](double t) {
            VtValue v;
            if (!layer_->QueryTimeSample(p, t, &v)) return;
            if (real && v.IsHolding<double>()) {
                out.reals.push_back(v.UncheckedGet<double>());
            } else if (real && v.IsHolding<float>()) {
                out.reals.push_back(v.UncheckedGet<float>());
            } else if (real) {
                return;  // a value of another type in a double attribute: not a sample of it
            } else {
                out.values.push_back(FromVt(v, type));
            }
            out.times.push_back(t);
        };
        std::set<double> times = layer_->ListTimeSamplesForPath(p);
        auto it = times.lower_bound(from);
        if (with_prior && it != times.begin()) push(*std::prev(it));
        for (; it != times.end() && *it <= to; ++it) push(*it);
        return out;
    });
}

void Layer::set_value_clips(rust::Str prim_path, rust::Str clip_set, const rust::Vec<rust::String>& asset_paths,
                            rust::Str clip_prim_path, const rust::Vec<double>& active, const rust::Vec<double>& times,
                            rust::Str manifest, bool interpolate_missing) {
    SdfPath p = ParsePath(prim_path);
    std::string set = S(clip_set);
    Guarded([&] { return std::string("set clips " + set + " on " + p.GetString()); }, [&] {
        if (!p.IsPrimPath()) Fail("path", "'" + p.GetString() + "' is not a prim path");
        if (set.empty()) Fail("name", "clip set name is empty");
        if (active.size() % 2 != 0 || times.size() % 2 != 0) Fail("type", "active and times must be (stage time, value) pairs");
        SdfPrimSpecHandle prim = layer_->GetPrimAtPath(p);
        if (!prim) Fail("path", "no prim spec at " + p.GetString());
        VtArray<SdfAssetPath> assets;
        for (const auto& a : asset_paths) assets.push_back(SdfAssetPath(std::string(a)));
        auto pairs = [](const rust::Vec<double>& v) {
            VtArray<GfVec2d> out;
            for (size_t i = 0; i + 1 < v.size(); i += 2) out.push_back(GfVec2d(v[i], v[i + 1]));
            return out;
        };
        VtDictionary d;
        d["assetPaths"] = VtValue(assets);
        d["primPath"] = VtValue(S(clip_prim_path));
        d["active"] = VtValue(pairs(active));
        d["times"] = VtValue(pairs(times));
        if (!manifest.empty()) d["manifestAssetPath"] = VtValue(SdfAssetPath(S(manifest)));
        d["interpolateMissingClipValues"] = VtValue(interpolate_missing);
        VtDictionary clips;
        if (prim->HasInfo(TfToken("clips"))) clips = prim->GetInfo(TfToken("clips")).Get<VtDictionary>();
        clips[set] = VtValue(d);
        prim->SetInfo(TfToken("clips"), VtValue(clips));
    });
}

void Layer::define_relationship(rust::Str prim_path, rust::Str name, const rust::Vec<rust::String>& targets, bool custom) {
    SdfPath p = ParsePrimPath(prim_path);
    CheckName(name);
    std::string n = S(name);
    std::vector<SdfPath> paths;
    for (const auto& t : targets) paths.push_back(ParsePath(rust::Str(t.data(), t.size())));
    Guarded([&] { return std::string("define relationship " + p.GetString() + "." + n); }, [&] {
        SdfPrimSpecHandle prim = PrimAt(layer_, p);
        SdfPath relPath = p.AppendProperty(TfToken(n));
        SdfRelationshipSpecHandle rel = layer_->GetRelationshipAtPath(relPath);
        if (!rel) {
            if (layer_->GetPropertyAtPath(relPath)) Fail("name", n + " already exists on " + p.GetString() + " as an attribute");
            rel = SdfRelationshipSpec::New(prim, n, custom);
            if (!rel) Fail("usd", "cannot create relationship " + n);
        }
        rel->GetTargetPathList().ClearEditsAndMakeExplicit();
        rel->GetTargetPathList().GetExplicitItems() = paths;
    });
}

rust::Vec<rust::String> Layer::relationship_targets(rust::Str path) const {
    SdfPath p = ParsePath(path);
    return Guarded([&] { return std::string("read relationship " + p.GetString()); }, [&] {
        SdfRelationshipSpecHandle rel = layer_->GetRelationshipAtPath(p);
        if (!rel) Fail("path", "no relationship spec at " + p.GetString());
        std::vector<std::string> out;
        for (const auto& t : rel->GetTargetPathList().GetAddedOrExplicitItems()) out.push_back(t.GetString());
        return ToRustStrings(out);
    });
}

uint32_t Layer::intern_attribute(rust::Str prim_path, rust::Str name, rust::Str type_name) {
    SdfPath p = ParsePrimPath(prim_path);
    CheckName(name);
    std::string n = S(name), t = S(type_name);
    return Guarded([&] { return std::string("intern " + p.GetString() + "." + n); }, [&] {
        SdfValueTypeName type = FindType(t);
        SdfPath attrPath = p.AppendProperty(TfToken(n));
        SdfAttributeSpecHandle attr = layer_->GetAttributeAtPath(attrPath);
        if (attr) {
            if (attr->GetTypeName().GetType() != type.GetType()) {
                Fail("type", "attribute " + attrPath.GetString() + " exists as " + attr->GetTypeName().GetAsToken().GetString() + ", not " + t);
            }
        } else {
            SdfPrimSpecHandle prim = layer_->GetPrimAtPath(p);
            if (!prim) prim = SdfCreatePrimInLayer(layer_, p);  // `over` specs up to the root
            if (!prim) Fail("usd", "cannot create prim spec " + p.GetString());
            if (layer_->GetPropertyAtPath(attrPath)) Fail("name", n + " exists on " + p.GetString() + " as a relationship");
            if (!SdfAttributeSpec::New(prim, n, type, SdfVariabilityVarying, /*custom=*/false)) Fail("usd", "cannot create attribute " + n);
        }
        attrs_.push_back(attrPath);
        return static_cast<uint32_t>(attrs_.size() - 1);
    });
}

namespace {

// Writes one typed column: a default or a time sample per (handle, value).
template <class T, class Get>
void ApplyColumn(const SdfLayerRefPtr& layer, const std::vector<SdfPath>& attrs, const TickColumns& tick,
                 const rust::Vec<uint32_t>& handles, size_t stride, size_t n_values, const char* what, Get get) {
    if (n_values != handles.size() * stride) {
        Fail("type", std::string(what) + " column has " + std::to_string(handles.size()) + " handles but " +
                         std::to_string(n_values) + " values");
    }
    static const TfToken& kDefault = SdfFieldKeys->Default;
    for (size_t i = 0; i < handles.size(); ++i) {
        uint32_t h = handles[i];
        if (h >= attrs.size()) Fail("type", "unknown attribute handle " + std::to_string(h));
        VtValue v(static_cast<T>(get(i)));
        if (tick.has_time) {
            layer->SetTimeSample(attrs[h], tick.time, v);
        } else {
            layer->SetField(attrs[h], kDefault, v);
        }
    }
}

}  // namespace

TickColumns Layer::read_defaults() const {
    return Guarded([&] { return std::string("read defaults of " + layer_->GetIdentifier()); }, [&] {
        TickColumns t;
        t.has_time = false;
        t.time = 0.0;
        static const TfToken& kDefault = SdfFieldKeys->Default;
        for (uint32_t h = 0; h < attrs_.size(); ++h) {
            VtValue v = layer_->GetField(attrs_[h], kDefault);
            if (v.IsHolding<bool>()) {
                t.bool_handles.push_back(h);
                t.bool_values.push_back(v.UncheckedGet<bool>() ? 1 : 0);
            } else if (v.IsHolding<int>()) {
                t.int_handles.push_back(h);
                t.int_values.push_back(v.UncheckedGet<int>());
            } else if (v.IsHolding<int64_t>()) {
                t.int64_handles.push_back(h);
                t.int64_values.push_back(v.UncheckedGet<int64_t>());
            } else if (v.IsHolding<float>()) {
                t.float_handles.push_back(h);
                t.float_values.push_back(v.UncheckedGet<float>());
            } else if (v.IsHolding<double>()) {
                t.double_handles.push_back(h);
                t.double_values.push_back(v.UncheckedGet<double>());
            } else if (v.IsHolding<GfVec3f>()) {
                const GfVec3f& x = v.UncheckedGet<GfVec3f>();
                t.float3_handles.push_back(h);
                for (int i = 0; i < 3; ++i) t.float3_values.push_back(x[i]);
            } else if (v.IsHolding<GfVec3d>()) {
                const GfVec3d& x = v.UncheckedGet<GfVec3d>();
                t.double3_handles.push_back(h);
                for (int i = 0; i < 3; ++i) t.double3_values.push_back(x[i]);
            } else if (v.IsHolding<GfQuatf>()) {
                const GfQuatf& q = v.UncheckedGet<GfQuatf>();
                t.quatf_handles.push_back(h);
                t.quatf_values.push_back(q.GetReal());
                for (int i = 0; i < 3; ++i) t.quatf_values.push_back(q.GetImaginary()[i]);
            } else if (v.IsHolding<std::string>()) {
                t.string_handles.push_back(h);
                t.string_values.push_back(rust::String(v.UncheckedGet<std::string>()));
            } else if (v.IsHolding<TfToken>()) {
                t.token_handles.push_back(h);
                t.token_values.push_back(rust::String(v.UncheckedGet<TfToken>().GetString()));
            }
        }
        return t;
    });
}

size_t Layer::apply_tick(const TickColumns& t) {
    return Guarded([&] { return std::string("apply tick to " + layer_->GetIdentifier()); }, [&] {
        SdfChangeBlock block;
        ApplyColumn<bool>(layer_, attrs_, t, t.bool_handles, 1, t.bool_values.size(), "bool", [&](size_t i) { return t.bool_values[i] != 0; });
        ApplyColumn<int>(layer_, attrs_, t, t.int_handles, 1, t.int_values.size(), "int", [&](size_t i) { return t.int_values[i]; });
        ApplyColumn<int64_t>(layer_, attrs_, t, t.int64_handles, 1, t.int64_values.size(), "int64", [&](size_t i) { return t.int64_values[i]; });
        ApplyColumn<float>(layer_, attrs_, t, t.float_handles, 1, t.float_values.size(), "float", [&](size_t i) { return t.float_values[i]; });
        ApplyColumn<double>(layer_, attrs_, t, t.double_handles, 1, t.double_values.size(), "double", [&](size_t i) { return t.double_values[i]; });
        ApplyColumn<GfVec3f>(layer_, attrs_, t, t.float3_handles, 3, t.float3_values.size(), "float3", [&](size_t i) {
            const float* d = t.float3_values.data() + 3 * i;
            return GfVec3f(d[0], d[1], d[2]);
        });
        ApplyColumn<GfVec3d>(layer_, attrs_, t, t.double3_handles, 3, t.double3_values.size(), "double3", [&](size_t i) {
            const double* d = t.double3_values.data() + 3 * i;
            return GfVec3d(d[0], d[1], d[2]);
        });
        ApplyColumn<GfQuatf>(layer_, attrs_, t, t.quatf_handles, 4, t.quatf_values.size(), "quatf", [&](size_t i) {
            const float* d = t.quatf_values.data() + 4 * i;
            return GfQuatf(d[0], d[1], d[2], d[3]);
        });
        ApplyColumn<std::string>(layer_, attrs_, t, t.string_handles, 1, t.string_values.size(), "string", [&](size_t i) {
            return std::string(t.string_values[i]);
        });
        ApplyColumn<TfToken>(layer_, attrs_, t, t.token_handles, 1, t.token_values.size(), "token", [&](size_t i) {
            return TfToken(std::string(t.token_values[i]));
        });
        return t.bool_handles.size() + t.int_handles.size() + t.int64_handles.size() + t.float_handles.size() +
               t.double_handles.size() + t.float3_handles.size() + t.double3_handles.size() + t.quatf_handles.size() +
               t.string_handles.size() + t.token_handles.size();
    });
}

}  // namespace twinloom
