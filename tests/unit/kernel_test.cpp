// The kernel IR: its printer, its verifier and the lowering of graph nodes.

#include "backend/kernel/flatten_parallel.h"
#include "backend/kernel/lower.h"
#include "test_util.h"

using namespace kiln;
using namespace kiln::kernel;

namespace {

/// out[i, j] = exp(in0[i, j]) + in1[j], the shape of an elementwise kernel with broadcasting.
Kernel biasExp() {
  Kernel k;
  k.name = "bias_exp";
  int x = k.addBuffer("in0", DType::f32, {4, 8}, Role::Read);
  int bias = k.addBuffer("in1", DType::f32, {1, 8}, Role::Read);
  int out = k.addBuffer("out0", DType::f32, {4, 8}, Role::Write);
  int i = k.addVar("i", ScalarType::index), j = k.addVar("i", ScalarType::index);
  Expr vi = varRef(k, i), vj = varRef(k, j);
  Expr value = add(unary(UnaryOp::Exp, load(k, x, {vi, vj})), load(k, bias, {intConst(0), vj}));
  Block inner;
  inner.push_back(store(out, {vi, vj}, value));
  Block outer;
  outer.push_back(loop(j, LoopKind::Serial, 8, std::move(inner)));
  k.body.push_back(loop(i, LoopKind::Parallel, 4, std::move(outer)));
  return k;
}

} // namespace

TEST_CASE("kernel printer writes loops, loads and stores") {
  Kernel k = biasExp();
  CHECK(verify(k).empty());
  CHECK(print(k) ==
        "kernel @bias_exp(%in0: f32[4,8] read, %in1: f32[1,8] read, %out0: f32[4,8] write) {\n"
        "  parallel %i0 = 0 to 4 {\n"
        "    serial %i1 = 0 to 8 {\n"
        "      %out0[%i0, %i1] = add(exp(%in0[%i0, %i1]), %in1[0, %i1])\n"
        "    }\n"
        "  }\n"
        "}\n");
  CHECK(k.parallelExtent() == 4);
}

TEST_CASE("kernel printer writes accumulators, group loops and constants") {
  Kernel k;
  k.name = "row_max";
  int x = k.addBuffer("in0", DType::bf16, {2, 16}, Role::Read);
  int out = k.addBuffer("out0", DType::f32, {2}, Role::Write);
  int scale = k.addConstant(DType::f32, {2}, {0.5, 2});
  int g = k.addVar("g", ScalarType::index), w = k.addVar("w", ScalarType::index);
  int acc = k.addVar("acc", ScalarType::f32, true);
  Block workers;
  workers.push_back(
      assign(acc, binary(BinaryOp::Max, varRef(k, acc), load(k, x, {varRef(k, g), varRef(k, w)}))));
  Block group;
  group.push_back(accumulator(acc, constant(-INFINITY, ScalarType::f32)));
  group.push_back(loop(w, LoopKind::Worker, 16, std::move(workers)));
  group.push_back(Stmt{GroupReduce{acc, BinaryOp::Max}});
  group.push_back(Stmt{Barrier{}});
  group.push_back(store(out, {varRef(k, g)}, mul(varRef(k, acc), load(k, scale, {varRef(k, g)}))));
  k.body.push_back(loop(g, LoopKind::Group, 2, std::move(group)));
  CHECK(verify(k).empty());
  CHECK(print(k) == "kernel @row_max(%in0: bf16[2,16] read, %out0: f32[2] write) {\n"
                    "  const %const0: f32[2] = [0.5, 2.0]\n"
                    "  group %g0 = 0 to 2 {\n"
                    "    var %acc0: f32 = -inf:f32\n"
                    "    worker %w0 = 0 to 16 {\n"
                    "      %acc0 = max(%acc0, %in0[%g0, %w0])\n"
                    "    }\n"
                    "    group_reduce max %acc0\n"
                    "    barrier\n"
                    "    %out0[%g0] = mul(%acc0, %const0[%g0])\n"
                    "  }\n"
                    "}\n");
}

TEST_CASE("kernel printer writes an if with its body indented") {
  Kernel k = biasExp();
  auto &inner = std::get<Loop>(std::get<Loop>(k.body[0].node).body[0].node);
  Block body = std::move(inner.body);
  inner.body.clear();
  inner.body.push_back(
      ifThen(binary(BinaryOp::Le, varRef(k, inner.var), intConst(5)), std::move(body)));
  CHECK(verify(k).empty());
  CHECK(print(k) ==
        "kernel @bias_exp(%in0: f32[4,8] read, %in1: f32[1,8] read, %out0: f32[4,8] write) {\n"
        "  parallel %i0 = 0 to 4 {\n"
        "    serial %i1 = 0 to 8 {\n"
        "      if le(%i1, 5) {\n"
        "        %out0[%i0, %i1] = add(exp(%in0[%i0, %i1]), %in1[0, %i1])\n"
        "      }\n"
        "    }\n"
        "  }\n"
        "}\n");
}

TEST_CASE("kernel verifier rejects malformed kernels") {
  SUBCASE("store to a read-only buffer") {
    Kernel k = biasExp();
    std::get<Store>(std::get<Loop>(std::get<Loop>(k.body[0].node).body[0].node).body[0].node)
        .buffer = 0;
    CHECK(verify(k) == "store to %in0, which is not a write or local buffer");
  }
  SUBCASE("index used outside its loop") {
    Kernel k = biasExp();
    int i = 0;
    k.body.push_back(store(2, {varRef(k, i), intConst(0)}, constant(1, ScalarType::f32)));
    CHECK(verify(k) == "variable %i0 is used out of its scope");
  }
  SUBCASE("operands of different types") {
    Kernel k = biasExp();
    auto &st =
        std::get<Store>(std::get<Loop>(std::get<Loop>(k.body[0].node).body[0].node).body[0].node);
    st.value = add(st.value, constant(1, ScalarType::f64));
    CHECK(verify(k) == "add of f32 and f64");
  }
  SUBCASE("wrong number of indices") {
    Kernel k = biasExp();
    auto &st =
        std::get<Store>(std::get<Loop>(std::get<Loop>(k.body[0].node).body[0].node).body[0].node);
    st.indices.pop_back();
    CHECK(verify(k) == "%out0 has rank 2 but is indexed with 1 indices");
  }
  SUBCASE("barrier outside a group") {
    Kernel k = biasExp();
    k.body.push_back(Stmt{Barrier{}});
    CHECK(verify(k) == "barrier outside the body of a group loop");
  }
  SUBCASE("if on a non-bool condition, and a barrier under an if in a worker loop") {
    Kernel k = biasExp();
    auto &inner = std::get<Loop>(std::get<Loop>(k.body[0].node).body[0].node);
    Block body = std::move(inner.body);
    inner.body.clear();
    inner.body.push_back(ifThen(varRef(k, inner.var), std::move(body)));
    CHECK(verify(k) == "if condition has type index, expected bool");
    std::get<If>(inner.body[0].node).cond = binary(BinaryOp::Lt, varRef(k, inner.var), intConst(3));
    CHECK(verify(k).empty());
    Kernel group = k;
    std::get<Loop>(group.body[0].node).kind = LoopKind::Group;
    auto &workers = std::get<Loop>(std::get<Loop>(group.body[0].node).body[0].node);
    workers.kind = LoopKind::Worker;
    std::get<If>(workers.body[0].node).body.push_back(Stmt{Barrier{}});
    CHECK(verify(group) == "barrier inside a worker loop");
  }
  SUBCASE("worker loop outside a group") {
    Kernel k = biasExp();
    std::get<Loop>(std::get<Loop>(k.body[0].node).body[0].node).kind = LoopKind::Worker;
    CHECK(verify(k) ==
          "worker loop %i1 is not inside a group loop (directly or under serial loops)");
  }
}

TEST_CASE("lowering an elementwise node collapses its loops") {
  Graph g;
  Value *x = g.addInput("x", InputKind::Data, TensorType{DType::f32, {4, 8}});
  Value *b = g.addInput("b", InputKind::Data, TensorType{DType::f32, {8}});
  Builder builder(g);
  Value *y = builder.create(op::Add, {x, b});
  Value *z = builder.create(op::Exp, {y});
  g.addOutput("z", z);
  std::optional<Kernel> k = lowerNode(*g.nodes()[1]);
  REQUIRE(k);
  CHECK(print(*k) == "kernel @exp(%in0: f32[32] read, %out0: f32[32] write) {\n"
                     "  parallel %i0 = 0 to 32 {\n"
                     "    %out0[%i0] = exp(%in0[%i0])\n"
                     "  }\n"
                     "}\n");
  std::string all = printKernels(g);
  CHECK(all.find("kernel @add_0(%in0: f32[4,8] read, %in1: f32[1,8] read, %out0: f32[4,8] "
                 "write)") != std::string::npos);
  CHECK(all.find("kernel @exp_1(") != std::string::npos);
}

TEST_CASE("flattening for GPUs: independent loops join the parallel loop, dependent ones stay") {
  Kernel k = flattenParallelLoops(biasExp());
  CHECK(verify(k).empty());
  CHECK(print(k) ==
        "kernel @bias_exp(%in0: f32[4,8] read, %in1: f32[1,8] read, %out0: f32[4,8] write) {\n"
        "  parallel %flat0 = 0 to 32 {\n"
        "    let %i0: index = div(%flat0, 8)\n"
        "    let %i1: index = rem(%flat0, 8)\n"
        "    %out0[%i0, %i1] = add(exp(%in0[%i0, %i1]), %in1[0, %i1])\n"
        "  }\n"
        "}\n");

  // out[i, j] = out[i, j - 1] + in[i, j]: each iteration reads the one before.
  Kernel scan;
  int in = scan.addBuffer("in0", DType::f32, {4, 8}, Role::Read);
  int out = scan.addBuffer("out0", DType::f32, {4, 8}, Role::Write);
  int i = scan.addVar("i", ScalarType::index), j = scan.addVar("i", ScalarType::index);
  Expr vi = varRef(scan, i), vj = varRef(scan, j);
  Expr before = load(scan, out, {vi, binary(BinaryOp::Max, sub(vj, intConst(1)), intConst(0))});
  Block inner;
  inner.push_back(store(out, {vi, vj}, add(before, load(scan, in, {vi, vj}))));
  Block outer;
  outer.push_back(loop(j, LoopKind::Serial, 8, std::move(inner)));
  scan.body.push_back(loop(i, LoopKind::Parallel, 4, std::move(outer)));
  CHECK(print(flattenParallelLoops(scan)) == print(scan));

  // A row sum: iterations of the serial loop meet in one element.
  Kernel sum;
  in = sum.addBuffer("in0", DType::f32, {4, 8}, Role::Read);
  out = sum.addBuffer("out0", DType::f32, {4}, Role::Write);
  i = sum.addVar("i", ScalarType::index);
  j = sum.addVar("i", ScalarType::index);
  vi = varRef(sum, i);
  vj = varRef(sum, j);
  Block add_in;
  add_in.push_back(store(out, {vi}, add(load(sum, out, {vi}), load(sum, in, {vi, vj}))));
  Block row;
  row.push_back(loop(j, LoopKind::Serial, 8, std::move(add_in)));
  sum.body.push_back(loop(i, LoopKind::Parallel, 4, std::move(row)));
  CHECK(print(flattenParallelLoops(sum)) == print(sum));

  // out[i, j] = in[i, j + 1]: right, unless the plan put out over in (same shape and dtype),
  // where one iteration would read what the next one writes.
  Kernel shift;
  in = shift.addBuffer("in0", DType::f32, {4, 8}, Role::Read);
  out = shift.addBuffer("out0", DType::f32, {4, 8}, Role::Write);
  i = shift.addVar("i", ScalarType::index);
  j = shift.addVar("i", ScalarType::index);
  vi = varRef(shift, i);
  vj = varRef(shift, j);
  Block copy;
  copy.push_back(
      store(out, {vi, vj},
            load(shift, in, {vi, binary(BinaryOp::Min, add(vj, intConst(1)), intConst(7))})));
  Block rows;
  rows.push_back(loop(j, LoopKind::Serial, 8, std::move(copy)));
  shift.body.push_back(loop(i, LoopKind::Parallel, 4, std::move(rows)));
  CHECK(print(flattenParallelLoops(shift)) == print(shift));

  // A running sum along each row: its iterations share the accumulator, declared beside the
  // loop in the row's body.
  Kernel total;
  in = total.addBuffer("in0", DType::f32, {4, 8}, Role::Read);
  out = total.addBuffer("out0", DType::f32, {4, 8}, Role::Write);
  i = total.addVar("i", ScalarType::index);
  j = total.addVar("i", ScalarType::index);
  int acc = total.addVar("acc", ScalarType::f32, true);
  vi = varRef(total, i);
  vj = varRef(total, j);
  Block running;
  running.push_back(assign(acc, add(varRef(total, acc), load(total, in, {vi, vj}))));
  running.push_back(store(out, {vi, vj}, varRef(total, acc)));
  Block per_row;
  per_row.push_back(accumulator(acc, constant(0, ScalarType::f32)));
  per_row.push_back(loop(j, LoopKind::Serial, 8, std::move(running)));
  total.body.push_back(loop(i, LoopKind::Parallel, 4, std::move(per_row)));
  CHECK(print(flattenParallelLoops(total)) == print(total));

  // A matmul's lowering: the row and column loops join the batch loop, the reduction stays.
  Graph g;
  Value *a = g.addInput("a", InputKind::Data, TensorType{DType::f32, {2, 8, 64}});
  Value *w = g.addInput("w", InputKind::Data, TensorType{DType::f32, {32, 64}});
  Builder builder(g);
  Value *y = builder.create(op::Matmul, {a, w}, {{"transpose_b", true}});
  g.addOutput("y", y);
  std::optional<Kernel> mm = lowerNode(*g.nodes()[0]);
  REQUIRE(mm);
  Kernel flat = flattenParallelLoops(*mm);
  CHECK(verify(flat).empty());
  REQUIRE(flat.parallelLoop());
  CHECK(flat.parallelExtent() == 2 * 8 * 32);
  CHECK(print(flat).find("reduction %") != std::string::npos);

  // Without transpose_b an f32 matmul runs i-p-j (zero the row, then add a row for each p):
  // the p loop trades places with the column loop, the zeroing joins it, and the columns are
  // parallel too, so each thread loops over p alone.
  Value *w2 = g.addInput("w2", InputKind::Data, TensorType{DType::f32, {64, 32}});
  Value *y2 = builder.create(op::Matmul, {a, w2});
  g.addOutput("y2", y2);
  std::optional<Kernel> ipj = lowerNode(*g.nodes()[1]);
  REQUIRE(ipj);
  Kernel joined = flattenParallelLoops(*ipj);
  CHECK(verify(joined).empty());
  CHECK(print(joined) ==
        "kernel @matmul(%in0: f32[2,8,64] read, %in1: f32[1,64,32] read, %out0: f32[2,8,32] "
        "write) noalias {\n"
        "  parallel %flat0 = 0 to 512 {\n"
        "    let %i0: index = div(%flat0, 256)\n"
        "    let %i1: index = rem(div(%flat0, 32), 8)\n"
        "    let %j0: index = rem(%flat0, 32)\n"
        "    %out0[%i0, %i1, %j0] = 0.0:f32\n"
        "    let %j1: index = %j0\n"
        "    serial %p0 = 0 to 64 {\n"
        "      let %a0: f32 = %in0[%i0, %i1, %p0]\n"
        "      %out0[%i0, %i1, %j1] = add(%out0[%i0, %i1, %j1], mul(%a0, %in1[0, %p0, %j1]))\n"
        "    }\n"
        "  }\n"
        "}\n");

  // The same where a has the result's shape: a matmul is never computed in place of its
  // operand, so a's loads need not be indexed by the column.
  Value *w3 = g.addInput("w3", InputKind::Data, TensorType{DType::f32, {64, 64}});
  g.addOutput("y3", builder.create(op::Matmul, {a, w3}));
  std::optional<Kernel> square = lowerNode(*g.nodes()[2]);
  REQUIRE(square);
  CHECK(flattenParallelLoops(*square).parallelExtent() == 2 * 8 * 64);

  // Two loops over a row where the second reads the element after its own: fused, iteration
  // j would read element j + 1 before the first loop wrote it, so they stay apart.
  Kernel pair;
  in = pair.addBuffer("in0", DType::f32, {4, 8}, Role::Read);
  out = pair.addBuffer("out0", DType::f32, {4, 8}, Role::Write);
  i = pair.addVar("i", ScalarType::index);
  j = pair.addVar("j", ScalarType::index);
  int j2 = pair.addVar("j", ScalarType::index);
  vi = varRef(pair, i);
  Block first, second;
  first.push_back(store(out, {vi, varRef(pair, j)}, load(pair, in, {vi, varRef(pair, j)})));
  Expr next = binary(BinaryOp::Min, add(varRef(pair, j2), intConst(1)), intConst(7));
  second.push_back(store(out, {vi, varRef(pair, j2)},
                         add(load(pair, out, {vi, next}), constant(1, ScalarType::f32))));
  Block both;
  both.push_back(loop(j, LoopKind::Serial, 8, std::move(first)));
  both.push_back(loop(j2, LoopKind::Serial, 8, std::move(second)));
  pair.body.push_back(loop(i, LoopKind::Parallel, 4, std::move(both)));
  CHECK(print(flattenParallelLoops(pair)) == print(pair));

  // p { let a = out[i, p]; j { out[i, j] += a } }: interchanged, the let would read element p
  // after the iterations of other columns had changed it, so the loops keep their order.
  Kernel reread;
  out = reread.addBuffer("out0", DType::f32, {4, 8}, Role::Write);
  i = reread.addVar("i", ScalarType::index);
  int p = reread.addVar("p", ScalarType::index);
  j = reread.addVar("j", ScalarType::index);
  int av = reread.addVar("a", ScalarType::f32);
  vi = varRef(reread, i);
  std::vector<Expr> at = {vi, varRef(reread, j)};
  Block columns;
  columns.push_back(store(out, at, add(load(reread, out, at), varRef(reread, av))));
  Block step;
  step.push_back(let(av, load(reread, out, {vi, varRef(reread, p)})));
  step.push_back(loop(j, LoopKind::Serial, 8, std::move(columns)));
  Block rowwise;
  rowwise.push_back(loop(p, LoopKind::Serial, 8, std::move(step)));
  reread.body.push_back(loop(i, LoopKind::Parallel, 4, std::move(rowwise)));
  CHECK(verify(reread).empty());
  CHECK(print(flattenParallelLoops(reread)) == print(reread));
}

TEST_CASE("kernel checks: traps print, verify and format the offending value") {
  Kernel k;
  k.name = "pick";
  int ids = k.addBuffer("in0", DType::i64, {4}, Role::Read);
  int out = k.addBuffer("out0", DType::i64, {4}, Role::Write);
  int trap = k.addTrap("pick: index {} is out of range [0, 8)", ids);
  int i = k.addVar("i", ScalarType::index);
  Expr v = cast(load(k, ids, {varRef(k, i)}), ScalarType::index);
  Expr ok = binary(BinaryOp::Lt, v, intConst(8));
  Block body;
  body.push_back(check(trap, ok, varRef(k, i)));
  body.push_back(store(out, {varRef(k, i)}, load(k, ids, {varRef(k, i)})));
  k.body.push_back(loop(i, LoopKind::Parallel, 4, std::move(body)));
  CHECK(verify(k).empty());
  CHECK(print(k) == "kernel @pick(%in0: i64[4] read, %out0: i64[4] write) {\n"
                    "  trap0 on %in0: \"pick: index {} is out of range [0, 8)\"\n"
                    "  parallel %i0 = 0 to 4 {\n"
                    "    check lt(cast<index>(%in0[%i0]), 8) else trap0 at %i0\n"
                    "    %out0[%i0] = %in0[%i0]\n"
                    "  }\n"
                    "}\n");
  CHECK(trapMessage(k.traps[0], 12) == "pick: index 12 is out of range [0, 8)");
  SUBCASE("an undeclared trap") {
    std::get<Check>(std::get<Loop>(k.body[0].node).body[0].node).trap = 1;
    CHECK(verify(k) == "check of trap1, which is not declared");
  }
  SUBCASE("a condition that is not bool") {
    std::get<Check>(std::get<Loop>(k.body[0].node).body[0].node).ok = v;
    CHECK(verify(k) == "check condition has type index, expected bool");
  }
  SUBCASE("a trap on a float buffer") {
    k.buffers[ids].dtype = DType::f32;
    CHECK(verify(k) == "trap0 does not name an integer read buffer");
  }
}
