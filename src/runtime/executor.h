// Executors run graphs. Model code talks to this interface only, so the eager reference and
// the compiled executor are interchangeable under every model.
#pragma once
#include <memory>
#include <string>

#include "runtime/eager_executor.h"

namespace fcast {

class Executor {
 public:
  virtual ~Executor() = default;
  virtual TensorMap run(const Graph& g, const TensorMap& inputs) = 0;
  virtual std::string name() const = 0;
};

class EagerExecutor : public Executor {
 public:
  TensorMap run(const Graph& g, const TensorMap& inputs) override { return run_eager(g, inputs); }
  std::string name() const override { return "eager"; }
};

}  // namespace fcast
