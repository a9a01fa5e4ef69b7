#pragma once
// kiln's public API in one include: `#include <kiln/kiln.h>`. Every declaration lives in the
// header of its layer (DESIGN.md), which a program may also include on its own; this header
// gathers the ones a program that builds, compiles, trains and runs a model needs.

#include "kiln/version.h"

// Graphs, types and errors (kiln::Error, which every mistake in the input is thrown as).
#include "ir/diagnostics.h"
#include "ir/graph.h"
#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/types.h"
#include "ir/verifier.h"

// The DSL: Tensor and its ops, the ModelBuilder, nn modules, the Transformer, initial values.
#include "frontend/init.h"
#include "frontend/model_builder.h"
#include "frontend/nn.h"
#include "frontend/tensor.h"
#include "frontend/transformer.h"

// Passes: the PassManager, the pass list, the named pipelines, autodiff and the optimizer.
#include "passes/autodiff.h"
#include "passes/optimizer.h"
#include "passes/pass.h"
#include "passes/pass_manager.h"
#include "passes/pipelines.h"

// Programs: the Transformer's loss, train-step and decoding programs, and the train step of
// any graph with a loss.
#include "compiler/programs.h"

// Backends: compile a graph into an Executable (backend.h has getBackend("cpu")).
#include "backend/backend.h"
#include "backend/cpu/cpu_backend.h"
#include "backend/reference/reference_backend.h"

// The runtime: host buffers, executables and their bindings, safetensors, checkpoints, text
// data (Ding's sentences, a character tokenizer, random windows), the training driver and the
// decoding drivers.
#include "runtime/checkpoint.h"
#include "runtime/data/char_tokenizer.h"
#include "runtime/data/ding.h"
#include "runtime/data/text_windows.h"
#include "runtime/decode/cached_decoder.h"
#include "runtime/decode/greedy.h"
#include "runtime/decode/search.h"
#include "runtime/executable.h"
#include "runtime/host_buffer.h"
#include "runtime/safetensors.h"
#include "runtime/trainer.h"
