// The run of a GPU program over a device and a host-step evaluator.

#include "runtime/gpu/program_executable.h"

#include "ir/literal.h"

#include <fmt/format.h>

#include <algorithm>

namespace kiln::gpu {
namespace {

/// One element's bytes as an integer (for trap messages).
int64_t elementAsInt(std::span<const std::byte> bytes, DType dtype) {
  Literal l = Literal::fromBytes(TensorType{dtype, {1}}, bytes);
  return static_cast<int64_t>(l.data[0]);
}

} // namespace

ProgramExecutable::ProgramExecutable(std::shared_ptr<const GpuProgram> program,
                                     std::unique_ptr<DeviceProgram> device, HostSteps host)
    : Executable(program->signature), program_(std::move(program)), device_(std::move(device)),
      host_(std::move(host)) {
  for (size_t b = 0; b < program_->buffers.size(); ++b)
    if (program_->buffers[b].kind == ProgramBuffer::Kind::Traps)
      trap_buffer_ = static_cast<int>(b);
}

std::vector<HostBuffer> ProgramExecutable::run(std::span<const HostBuffer> inputs) {
  checkInputs(inputs);
  const GpuProgram &p = *program_;
  for (size_t i = 0; i < inputs.size(); ++i)
    device_->write(p.bufferOf(ProgramBuffer::Kind::Input, static_cast<int>(i)), 0,
                   inputs[i].bytes());
  if (trap_buffer_ >= 0) {
    std::vector<int64_t> clear(static_cast<size_t>(p.buffers[trap_buffer_].bytes / 8),
                               kTrapSlotClear);
    device_->write(trap_buffer_, 0, std::as_bytes(std::span(clear)));
  }
  for (size_t s = 0; s < p.steps.size();) {
    if (const HostStep *h = std::get_if<HostStep>(&p.steps[s])) {
      runHost(*h);
      ++s;
      continue;
    }
    size_t end = s;
    while (end < p.steps.size() && std::holds_alternative<DispatchStep>(p.steps[end]))
      ++end;
    device_->dispatch(s, end);
    checkTraps(s, end);
    s = end;
  }
  std::vector<HostBuffer> out;
  for (size_t k = 0; k < p.outputs.size(); ++k) {
    const ProgramOutput &o = p.outputs[k];
    if (o.input)
      out.push_back(inputs[*o.input]); // an input's old value, which no step overwrote here
    else
      out.push_back(read(*o.slice, p.signature.outputs[k].type));
  }
  return out;
}

std::vector<std::pair<std::string, int64_t>> ProgramExecutable::statistics() const {
  const GpuProgram &p = *program_;
  int64_t fallbacks = 0, arenas = 0, arena_bytes = 0;
  for (const auto &[op, count] : p.fallbacks)
    fallbacks += count;
  for (const ProgramBuffer &b : p.buffers)
    if (b.kind == ProgramBuffer::Kind::Arena) {
      ++arenas;
      arena_bytes += b.bytes;
    }
  std::vector<std::pair<std::string, int64_t>> stats = {
      {"kernels", p.num_kernels},
      {"distinct kernels", static_cast<int64_t>(p.kernels.size())},
      {"fallback nodes", fallbacks}};
  for (auto &s : device_->statistics())
    stats.push_back(std::move(s));
  stats.insert(stats.end(), {{"arenas", arenas},
                             {"arena bytes", arena_bytes},
                             {"peak bytes", p.peak_bytes},
                             {"max buffer bytes", p.max_buffer_bytes}});
  for (const auto &[op, count] : p.fallbacks)
    stats.emplace_back("fallback " + op, count);
  return stats;
}

void ProgramExecutable::checkTraps(size_t first, size_t last) const {
  for (size_t s = first; s < last; ++s) {
    const DispatchStep &d = std::get<DispatchStep>(program_->steps[s]);
    if (d.traps.empty())
      continue;
    const Slice &slots_slice = d.bindings.back();
    std::vector<int64_t> slots(d.traps.size());
    device_->read(slots_slice.buffer, slots_slice.offset, std::as_writable_bytes(std::span(slots)));
    for (size_t t = 0; t < slots.size(); ++t) {
      if (slots[t] == kTrapSlotClear)
        continue;
      const ProgramTrap &trap = d.traps[t];
      const Slice &r = d.bindings[trap.binding];
      std::vector<std::byte> element(static_cast<size_t>(dtypeSize(trap.dtype)));
      device_->read(r.buffer, r.offset + slots[t] * dtypeSize(trap.dtype), element);
      throw Error(d.loc,
                  fmt::format(fmt::runtime(trap.message), elementAsInt(element, trap.dtype)));
    }
  }
}

HostBuffer ProgramExecutable::read(const Slice &s, const TensorType &t) const {
  HostBuffer out(t);
  device_->read(s.buffer, s.offset, std::span(out.data(), static_cast<size_t>(byteSize(t))));
  return out;
}

void ProgramExecutable::runHost(const HostStep &h) const {
  std::vector<HostBuffer> in;
  for (size_t j = 0; j < h.inputs.size(); ++j)
    in.push_back(read(h.inputs[j], h.input_types[j]));
  std::vector<HostBuffer> results = host_(h, in);
  KILN_ASSERT(results.size() == h.stored.size(), "a host step returned a wrong result count");
  for (size_t j = 0; j < results.size(); ++j)
    device_->write(h.stored[j].buffer, h.stored[j].offset, results[j].bytes());
}

} // namespace kiln::gpu
