// The eager executor: runs a Graph op by op with the reference kernels, allocating each
// temporary when it is produced and releasing it after its last use (like PyTorch eager).
//
//   std::map<std::string, Tensor> out = run_eager(graph, {{"x", x}});
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "graph/graph.h"

namespace fcast {

using TensorMap = std::map<std::string, Tensor>;

// Runs one node's computation with the reference kernels. `out` must be allocated with the
// node's output shape (or alias its input for in-place ops).
void run_reference_node(const Graph& g, const Graph::Node& node, const std::vector<const Tensor*>& in, Tensor& out);

// Binds graph inputs by name (shapes and dtypes are checked), runs every node, returns the
// marked outputs by name.
// `on_node` (optional) is called after each node with the node and its run time in seconds.
TensorMap run_eager(const Graph& g, const TensorMap& inputs,
                    const std::function<void(const Graph::Node&, double)>& on_node = nullptr);

// Reads an I64 scalar input (shape [] or [1]).
int64_t scalar_i64(const Tensor& t);
Tensor make_scalar_i64(int64_t v);

}  // namespace fcast
