#include "runtime/cpu_backend.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <iostream>
#include <sstream>

#include "core/hash.h"
#include "ops/cpu/kernels.h"

namespace fcast {

namespace {

// Content checksum of a source weight for the "packed" cache key: FNV-1a-style over 64-bit
// words in four independent lanes (fast enough for multi-GB checkpoints), then FNV-1a 64 of the
// lanes, the tail bytes and the length. Every per-word step is a bijection, so a change of one
// word always changes the result.
uint64_t content_checksum(const void* data, size_t n) {
  constexpr uint64_t kPrime = 0x100000001b3ull;
  const unsigned char* p = static_cast<const unsigned char*>(data);
  uint64_t lane[4] = {0xcbf29ce484222325ull, 0x84222325cbf29ce4ull, 0x9e3779b97f4a7c15ull, 0xc2b2ae3d27d4eb4full};
  size_t i = 0;
  for (; i + 32 <= n; i += 32)
    for (int l = 0; l < 4; ++l) {
      uint64_t v;
      std::memcpy(&v, p + i + 8 * l, 8);
      uint64_t h = (lane[l] ^ v) * kPrime;
      lane[l] = h ^ (h >> 29);
    }
  uint64_t h = fnv1a64(lane, sizeof lane);
  h = fnv1a64(p + i, n - i, h);
  const uint64_t len = n;
  return fnv1a64(&len, sizeof len, h);
}

cpu::EpilogueKind kernel_epilogue(Epilogue e) {
  switch (e) {
    case Epilogue::Silu: return cpu::EpilogueKind::Silu;
    case Epilogue::Softplus: return cpu::EpilogueKind::Softplus;
    case Epilogue::ClampMin: return cpu::EpilogueKind::ClampMin;
    case Epilogue::AddScalar: return cpu::EpilogueKind::AddScalar;
    case Epilogue::Scale: return cpu::EpilogueKind::Scale;
    case Epilogue::SwiGLU: return cpu::EpilogueKind::SwiGLU;
    case Epilogue::Softmax: return cpu::EpilogueKind::Softmax;
  }
  fail("internal error: epilogue ", static_cast<int>(e), " has no kernel");
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

// Plans below this many matmul FLOPs per call run single-threaded (see run()).
constexpr int64_t kSerialPlanFlops = 16'000'000;

struct CpuBackend::Bound : BoundPlan {
  const Plan& plan() const override { return plan_; }
  std::string describe() const override;

  Plan plan_;
  CompileMode mode = CompileMode::Default;
  bool bf16 = false;
  bool running = false;               // guards against two threads in one session
  size_t graph_values = 0;            // values of the graph it was bound for (a guard)
  int64_t flops = -1;                 // matmul FLOPs per call, computed on first execution
  Tensor arena;
  char* base = nullptr;
  int64_t scratch_off = 0, scratch_bytes = 0;
  std::vector<Tensor> views;
  std::vector<ValueId> inputs;        // graph inputs
  std::vector<ValueId> input_views;   // values viewing an input's storage (re-viewed per call)
  std::vector<ValueId> arena_views;   // values viewing the arena (re-viewed per call in default mode)
  std::vector<std::unique_ptr<cpu::MatmulKernel>> mm;  // per step (kernel handles: per session)
  std::vector<const void*> packed;    // per step: weights in the kernel's layout (shared)
  std::vector<std::vector<cpu::EpilogueStep>> epilogue;  // per step (Matmul): the chain in the kernels' terms
  std::vector<std::vector<const Tensor*>> ref_in;      // per step (Reference)
  bool ready = false;                 // views bound at least once
};

std::string CpuBackend::Bound::describe() const {
  std::ostringstream o;
  o << "plan " << plan_.signature.key() << "\n  arena " << plan_.arena_bytes << " bytes (" << plan_.unplanned_bytes
    << " without reuse), scratch " << scratch_bytes << " bytes, " << plan_.steps.size() << " steps\n";
  for (const PlanStep& s : plan_.steps) o << "  " << s.name << " [" << s.impl << "]\n";
  return o.str();
}

CpuBackend::CpuBackend(CompileSettings settings, std::string model_identity)
    : settings_(std::move(settings)), identity_(std::move(model_identity)) {
  if (settings_.persistent_cache) {
    packed_cache_ = std::make_unique<PlanCache>(settings_.models_dir, true);
    const std::string kdir =
        settings_.kernel_cache_dir.empty() ? settings_.models_dir + "/torch_inductor" : settings_.kernel_cache_dir;
    kernel_cache_ = std::make_unique<PlanCache>(kdir, true);
  }
}

CpuBackend::~CpuBackend() = default;

std::string CpuBackend::identity() const { return cpu::cpu_features().text(); }

int64_t CpuBackend::packed_cache_hits() const {
  std::lock_guard<std::mutex> lock(mu_);
  return packed_hits_;
}

int64_t CpuBackend::packed_cache_misses() const {
  std::lock_guard<std::mutex> lock(mu_);
  return packed_misses_;
}

size_t CpuBackend::packed_weight_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return packed_.size();
}

int64_t CpuBackend::packed_weight_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t n = 0;
  for (const auto& [k, t] : packed_) n += static_cast<int64_t>(t.nbytes());
  return n;
}

std::string CpuBackend::choose_matmul_variant(int64_t M, int64_t K, int64_t N, bool bias, bool silu, bool bf16,
                                              BindCounters& c) {
  if (settings_.mode != CompileMode::MaxAutotune) return "packed";
  const std::string key = cat("matmul M=", M, " K=", K, " N=", N, " bias=", bias, " silu=", silu, " dtype=",
                              bf16 ? "bf16" : "fp32", " cpu=", cpu::cpu_features().text());
  auto it = autotune_.find(key);
  if (it != autotune_.end()) return it->second;
  if (kernel_cache_) {
    if (auto hit = kernel_cache_->load({"autotune", "", key}, /*max_payload=*/16); hit && (*hit == "packed" || *hit == "plain")) {
      ++c.cache_hits;
      return autotune_[key] = *hit;
    }
    ++c.cache_misses;
  }
  // Time each variant on scratch data (the values do not change the time of a dense matmul).
  // The variants are timed in alternation, several rounds, best time each, so that a slow spell
  // of a shared machine falls on both; "plain" must win by a margin, since a choice is cached
  // for good and packed is the default the benchmarks were tuned on.
  struct Candidate {
    const char* name = nullptr;
    std::unique_ptr<cpu::MatmulKernel> k;
    Tensor wp, sp;
    double t = 1e30;
  };
  std::vector<Candidate> cands;
  Tensor x = Tensor::zeros(DType::F32, {M, K}), w = Tensor::zeros(DType::F32, {N, K});
  Tensor bvec = Tensor::zeros(DType::F32, {N}), y = Tensor::empty(DType::F32, {M, N});
  for (const char* variant : {"packed", "plain"}) {
    try {
      Candidate cd;
      cd.name = variant;
      cd.k = std::make_unique<cpu::MatmulKernel>(
          cpu::MatmulDesc{M, K, N, bias, silu, bf16, std::string(variant) == "packed"});
      cd.wp = Tensor::empty(DType::U8, {static_cast<int64_t>(cd.k->packed_bytes()) + 64});
      cd.sp = Tensor::empty(DType::U8, {static_cast<int64_t>(cd.k->scratch_bytes()) + 64});
      cd.k->pack_weights(w.data<float>(), cd.wp.raw());
      cd.k->run(x.data<float>(), cd.wp.raw(), bvec.data<float>(), y.data<float>(), cd.sp.raw(), true);  // warm-up
      cands.push_back(std::move(cd));
    } catch (const Error&) {
      // A variant oneDNN cannot build for this shape is simply not a candidate.
    }
  }
  for (int round = 0; round < 5; ++round) {
    for (Candidate& cd : cands) {
      const auto t0 = std::chrono::steady_clock::now();
      cd.k->run(x.data<float>(), cd.wp.raw(), bvec.data<float>(), y.data<float>(), cd.sp.raw(), true);
      cd.t = std::min(cd.t, seconds_since(t0));
    }
  }
  constexpr double kPlainMargin = 0.9;  // plain must take under 90% of packed's time
  std::string best;
  double best_t = 1e30;
  for (const Candidate& cd : cands) {
    const double t = std::string(cd.name) == "plain" ? cd.t / kPlainMargin : cd.t;
    if (t < best_t) {
      best_t = t;
      best = cd.name;
    }
  }
  if (best.empty()) best = "packed";
  if (settings_.debug) std::cerr << "[fcast] autotune " << key << " -> " << best << "\n";
  if (kernel_cache_) kernel_cache_->store({"autotune", "", key}, best);
  return autotune_[key] = best;
}

Tensor CpuBackend::pack_weight(const cpu::MatmulKernel& k, const std::string& name, const Tensor& w, bool bf16,
                              BindCounters& c) {
  const size_t bytes = k.packed_bytes();
  Tensor t = Tensor::empty(DType::U8, {static_cast<int64_t>(bytes)});
  if (!packed_cache_) {
    k.pack_weights(w.data<float>(), t.raw());
    return t;
  }
  // The model identity covers config + tensor table only: the content checksum keeps another
  // checkpoint of the same config from reusing these bytes.
  auto sum = weight_sums_.find(w.raw());
  if (sum == weight_sums_.end()) {
    sum = weight_sums_.emplace(w.raw(), content_checksum(w.raw(), w.nbytes())).first;
    w.release_pages();  // read once for the checksum; a cache hit never needs it again
  }
  const CacheKey ck{"packed", identity_,
                    cat("weight=", name, " shape=", shape_str(w.shape()), " src=f32 content=", hex64(sum->second),
                        " dtype=", bf16 ? "bf16" : "fp32", " layout=", k.weights_layout(), " bytes=", bytes,
                        " cpu=", cpu::cpu_features().text())};
  {
    std::optional<std::string> blob = packed_cache_->load(ck, /*max_payload=*/bytes);
    if (blob && blob->size() == bytes) {
      std::memcpy(t.raw(), blob->data(), bytes);
      ++packed_hits_;
      ++c.cache_hits;
      return t;  // the blob is freed here: only the packed tensor stays alive
    }
    if (blob)
      std::cerr << "[fcast] packed-weight cache: entry for '" << name << "' holds " << blob->size()
                << " bytes, expected " << bytes << "; rebuilding\n";
  }
  ++packed_misses_;
  ++c.cache_misses;
  k.pack_weights(w.data<float>(), t.raw());
  packed_cache_->store(ck, std::string(static_cast<const char*>(t.raw()), bytes));  // temporary copy, freed at once
  return t;
}

std::unique_ptr<BoundPlan> CpuBackend::bind(const Graph& g, const Plan& plan, BindCounters* counters) {
  BindCounters ignored;
  BindCounters& c = counters ? *counters : ignored;
  auto b = std::make_unique<Bound>();
  b->plan_ = plan;  // a copy: this session fills in the implementations it binds
  b->mode = settings_.mode;
  b->bf16 = bf16_plans();
  std::lock_guard<std::mutex> lock(mu_);  // packed weights and autotune choices are shared
  const Plan& p = b->plan_;
  const auto& values = g.values();
  const size_t nv = values.size(), ns = p.steps.size();
  const bool bf16 = bf16_plans();
  b->views.resize(nv);
  b->mm.resize(ns);
  b->packed.assign(ns, nullptr);
  b->ref_in.resize(ns);
  b->epilogue.resize(ns);
  int64_t scratch = 0;
  std::vector<std::pair<size_t, std::string>> to_pack;  // (step, packed-weight key) packed below
  for (size_t k = 0; k < ns; ++k) {
    const PlanStep& s = p.steps[k];
    if (s.kind == StepKind::Matmul) {
      const int64_t M = s.i[0], K = s.i[1], N = s.i[2];
      const bool silu = !s.epilogue.empty() && s.epilogue[0].op == Epilogue::Silu;
      const bool bias = s.in[2] != kNone;
      const std::string variant = choose_matmul_variant(M, K, N, bias, silu, bf16, c);
      auto kern = std::make_unique<cpu::MatmulKernel>(cpu::MatmulDesc{M, K, N, bias, silu, bf16, variant == "packed"});
      const Tensor& w = values[s.in[1]].constant;
      FCAST_CHECK(w.defined() && w.dtype() == DType::F32, "compiled matmul: weight '", values[s.in[1]].name,
                  "' must be an F32 constant");
      if (!bf16 && variant == "plain") {
        b->packed[k] = w.raw();  // fp32 plain layout is the weight itself
      } else {
        to_pack.emplace_back(k, cat(hex64(reinterpret_cast<uintptr_t>(w.raw())), ":", kern->weights_layout()));
      }
      scratch = std::max<int64_t>(scratch, static_cast<int64_t>(kern->scratch_bytes()));
      b->plan_.steps[k].impl = kern->impl();
      for (const EpilogueOp& e : s.epilogue) b->epilogue[k].push_back({kernel_epilogue(e.op), e.arg});
      b->mm[k] = std::move(kern);
    } else if (s.kind == StepKind::Rotary) {
      const int64_t H = s.i[2], D = s.i[5], S = s.i[4];
      FCAST_CHECK(D / H <= 512, "head dim ", D / H, " exceeds the compiled kernels' limit of 512");
      scratch = std::max<int64_t>(scratch, cpu::rotary_table_floats(S, D / H) * 4);
      b->plan_.steps[k].impl = "cpu";
    } else if (s.kind == StepKind::Attention) {
      const Shape& qs = g.shape(s.in[0]);
      const int64_t Dh = qs[2] / s.i[0];
      FCAST_CHECK(Dh <= 512, "head dim exceeds the compiled kernels' limit of 512");
      // bf16 plans multiply in bf16 where the kernel has a bf16 path (several queries, the head
      // dims it takes bf16 caches at); decode multiplies in fp32.
      const bool bf16_attn = bf16 && qs[1] > 1 && cpu::attention_reads_bf16_cache(Dh);
      b->plan_.steps[k].impl = !bf16_attn                      ? "cpu-flash"
                              : cpu::attention_bf16_native() ? "cpu-flash-bf16:avx512_bf16"
                                                             : "cpu-flash-bf16:portable";
    } else if (s.kind == StepKind::Reference) {
      b->plan_.steps[k].impl = "reference";
    } else {
      b->plan_.steps[k].impl = "cpu";
    }
  }
  // Largest weights first: each original leaves the resident set once its packed copy exists
  // (plans read only the copy; the file pages come back if anything touches them again), so the
  // peak while packing is the packed total plus one original, and that original is small by the
  // time most copies exist (a published Toto's 151 MB unembedding comes first, not last).
  std::stable_sort(to_pack.begin(), to_pack.end(), [&](const auto& x, const auto& y) {
    return values[p.steps[x.first].in[1]].constant.nbytes() > values[p.steps[y.first].in[1]].constant.nbytes();
  });
  for (const auto& [k, key] : to_pack) {
    const Graph::Value& wv = values[p.steps[k].in[1]];
    auto it = packed_.find(key);
    if (it == packed_.end()) {
      it = packed_.emplace(key, pack_weight(*b->mm[k], wv.name, wv.constant, bf16, c)).first;
      const size_t released = wv.constant.release_pages();
      if (settings_.debug)
        std::cerr << "[fcast] packed '" << wv.name << "' (" << it->second.nbytes() << " bytes); released "
                  << released << " bytes of the mapped original\n";
    }
    b->packed[k] = it->second.raw();
  }
  b->scratch_off = (p.arena_bytes + 63) / 64 * 64;
  b->scratch_bytes = scratch;
  b->arena = Tensor::zeros(DType::U8, {b->scratch_off + scratch + 64});
  b->base = static_cast<char*>(b->arena.raw());
  for (size_t v = 0; v < nv; ++v) {
    const auto& val = values[v];
    if (val.kind == Graph::Kind::Input) b->inputs.push_back(static_cast<ValueId>(v));
    if (val.kind == Graph::Kind::Constant) b->views[v] = val.constant;
    const ValueId r = storage_root(g, static_cast<ValueId>(v));
    if (values[r].kind == Graph::Kind::Input) {
      if (val.kind != Graph::Kind::Input) b->input_views.push_back(static_cast<ValueId>(v));
    } else if (values[r].kind == Graph::Kind::Temp && p.offset[r] >= 0) {
      b->arena_views.push_back(static_cast<ValueId>(v));
    } else if (values[r].kind == Graph::Kind::Constant && val.kind != Graph::Kind::Constant) {
      b->views[v] = values[r].constant.reshape(val.shape);
    }
  }
  for (size_t k = 0; k < ns; ++k)
    if (p.steps[k].kind == StepKind::Reference)
      for (ValueId v : p.steps[k].in) b->ref_in[k].push_back(v == kNone ? nullptr : &b->views[v]);
  b->graph_values = nv;
  return b;
}

TensorMap CpuBackend::run(BoundPlan& bound_plan, const Graph& g, const TensorMap& inputs, const RunOptions& opt) {
  Bound& b = static_cast<Bound&>(bound_plan);
  FCAST_CHECK(b.graph_values == g.values().size(), "internal error: a plan bound for another graph was run");
  FCAST_CHECK(!b.running, "internal error: a bound plan was run by two threads at once (one session per thread)");
  b.running = true;
  struct Running {
    bool& r;
    ~Running() { r = false; }
  } running{b.running};
  const auto& values = g.values();
  const Plan& p = b.plan_;
  // Bind inputs (guards: names, dtypes and shapes must match the plan's graph).
  for (ValueId v : b.inputs) {
    const auto& val = values[v];
    auto it = inputs.find(val.name);
    FCAST_CHECK(it != inputs.end(), "graph input '", val.name, "' was not provided");
    FCAST_CHECK(it->second.dtype() == val.dtype && it->second.shape() == val.shape, "graph input '", val.name,
                "' expects ", dtype_name(val.dtype), shape_str(val.shape), ", got ", dtype_name(it->second.dtype()),
                shape_str(it->second.shape()));
    b.views[v] = it->second;
  }
  for (ValueId v : b.input_views) b.views[v] = b.views[storage_root(g, v)].reshape(values[v].shape);
  // reduce-overhead binds the arena views once; default mode sets them up on every call.
  const bool bound = b.mode != CompileMode::Default;
  if (!bound || !b.ready) {
    for (ValueId v : b.arena_views)
      b.views[v] = Tensor::borrow(values[v].dtype, values[v].shape, b.base + p.offset[storage_root(g, v)], nullptr);
    b.ready = true;
  }
  void* scratch = b.base + b.scratch_off;
  const int64_t allocs_before = tensor_allocation_count();
  // Small plans run on one thread: a parallel region per kernel costs more than it saves there,
  // and on a loaded machine every barrier can wait a whole scheduler slice for a descheduled
  // thread (measured: tiny Toto decode 1 ms serial vs 250 ms with 2 threads under load).
  if (b.flops < 0) {
    b.flops = 0;
    for (const auto& n : g.nodes())
      if (n.op == Op::Linear) {
        const Shape& ws = values[n.in[1]].shape;
        b.flops += 2 * shape_numel(values[n.out].shape) * ws[1];
      }
  }
  struct ThreadScope {
    int saved = 0;
    bool active = false;
    ~ThreadScope() {
      if (active) omp_set_num_threads(saved);
    }
  } threads;
  if (b.flops < kSerialPlanFlops && omp_get_max_threads() > 1) {
    threads.saved = omp_get_max_threads();
    threads.active = true;
    omp_set_num_threads(1);
  }
  const auto& nodes = g.nodes();
  auto f32 = [&](ValueId v) { return v == kNone ? nullptr : b.views[v].data<float>(); };
  auto i64 = [&](ValueId v, int64_t dflt) { return v == kNone ? dflt : scalar_i64(b.views[v]); };
  for (size_t k = 0; k < p.steps.size(); ++k) {
    const PlanStep& s = p.steps[k];
    const auto t0 = opt.on_step ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    switch (s.kind) {
      case StepKind::Reference: run_reference_node(g, nodes[s.node], b.ref_in[k], b.views[s.out]); break;
      case StepKind::Matmul: {
        const size_t first = (!s.epilogue.empty() && s.epilogue[0].op == Epilogue::Silu) ? 1 : 0;
        float* y = f32(s.tmp != kNone ? s.tmp : s.out);
        b.mm[k]->run(f32(s.in[0]), b.packed[k], f32(s.in[2]), y, scratch, bound);
        if (first < s.epilogue.size()) cpu::apply_epilogue(y, s.i[0], s.i[2], b.epilogue[k], first, f32(s.out));
        break;
      }
      case StepKind::AddRMSNorm:
        cpu::add_rmsnorm(f32(s.in[0]), f32(s.in[1]), f32(s.in[2]), f32(s.out), f32(s.out2), s.i[0], s.i[1],
                         static_cast<float>(s.f[0]));
        break;
      case StepKind::RMSNorm:
        cpu::rmsnorm(f32(s.in[0]), f32(s.in[1]), f32(s.out), s.i[0], s.i[1], static_cast<float>(s.f[0]));
        break;
      case StepKind::Softmax: cpu::softmax(f32(s.in[0]), f32(s.out), s.i[0], s.i[1]); break;
      case StepKind::SiluMul: cpu::silu_mul(f32(s.in[0]), f32(s.in[1]), f32(s.out), s.i[0]); break;
      case StepKind::Rotary: {
        cpu::RotaryArgs a;
        a.mode = static_cast<int>(s.i[0]);
        a.is_key = s.i[1] != 0;
        a.H = s.i[2];
        a.N = s.i[3];
        a.S = s.i[4];
        a.D = s.i[5];
        a.packed = s.i[6] != 0;
        a.which = s.i[7];
        a.src = f32(s.in[0]);
        a.pos0 = i64(s.in[1], 0);
        a.start = i64(s.in[2], 0);
        a.inv_freq = f32(s.in[3]);
        if (values[s.out].dtype == DType::BF16)
          a.dst16 = b.views[s.out].data<uint16_t>();  // a bf16 cache
        else
          a.dst = f32(s.out);
        a.dst_cap = s.in[4] != kNone ? values[s.in[4]].shape[1] : 0;
        a.table = static_cast<float*>(scratch);
        cpu::rotary(a);
        break;
      }
      case StepKind::Attention: {
        const Shape& qs = values[s.in[0]].shape;
        const Shape& ks = values[s.in[1]].shape;
        ref::AttentionArgs a;
        a.N = qs[0];
        a.Sq = qs[1];
        a.H = s.i[0];
        a.Dh = qs[2] / a.H;
        a.q = f32(s.in[0]);
        a.q_nstride = qs[1] * qs[2];
        a.q_tstride = qs[2];
        if (values[s.in[1]].dtype == DType::BF16) {  // a bf16 cache
          a.k16 = b.views[s.in[1]].data<uint16_t>();
          a.v16 = b.views[s.in[2]].data<uint16_t>();
        } else {
          a.k = f32(s.in[1]);
          a.v = f32(s.in[2]);
        }
        a.k_nstride = a.v_nstride = ks[1] * ks[2];
        a.k_tstride = a.v_tstride = ks[2];
        const bool cached = s.i[2] != 0;
        a.q_pos0 = i64(s.in[3], 0);
        a.kv_len = cached ? a.q_pos0 + a.Sq : ks[1];
        FCAST_CHECK(a.kv_len <= ks[1], "attention: ", a.kv_len, " keys requested from a cache of ", ks[1]);
        a.causal = s.i[1] != 0;
        a.kv_start = i64(s.in[5], 0);
        FCAST_CHECK(a.kv_start >= 0 && a.kv_start <= a.kv_len, "attention: valid start ", a.kv_start, " outside [0, ",
                    a.kv_len, "]");
        if (s.in.size() > 6 && s.in[6] != kNone) {  // separate key ids, one per key (cache slot)
          const int64_t slots = values[s.in[6]].shape[1];
          FCAST_CHECK(slots >= a.kv_len, "attention: key group ids cover ", slots, " of ", a.kv_len, " keys");
          a.q_group = b.views[s.in[4]].data<int32_t>();
          a.k_group = b.views[s.in[6]].data<int32_t>();
          a.k_group_nstride = slots;
        } else if (s.in[4] != kNone) {
          a.q_group = a.k_group = b.views[s.in[4]].data<int32_t>();
        }
        a.scale = 1.0f / std::sqrt(static_cast<float>(a.Dh));
        a.out = f32(s.out);
        cpu::attention(a, 128, b.bf16 ? cpu::AttentionMath::BF16 : cpu::AttentionMath::F32);
        break;
      }
    }
    if (opt.on_step) opt.on_step(s.name, s.impl, seconds_since(t0));
  }
  if (opt.strict) {
    const int64_t n = tensor_allocation_count() - allocs_before;
    FCAST_CHECK(n == 0, "strict plans (FCAST_STRICT_PLANS): a planned run allocated ", n, " tensor buffer(s)");
  }
  TensorMap out;
  for (const auto& [name, v] : g.outputs()) {
    const ValueId r = storage_root(g, v);
    if (values[r].kind == Graph::Kind::Temp)
      out[name] = b.views[v].clone();  // the arena is reused by the next run
    else
      out[name] = b.views[v];
  }
  return out;
}

}  // namespace fcast
