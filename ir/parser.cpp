#include "ir/parser.h"

#include "ir/text_format.h"
#include "ir/verifier.h"

#include <cctype>
#include <charconv>
#include <climits>
#include <cmath>
#include <limits>

namespace kiln {
namespace {

enum class Tok { Ident, PercentId, AtId, String, Int, Float, Punct, End };

struct Token {
  Tok kind = Tok::End;
  std::string text; ///< identifier, string contents, number spelling or the punctuation char
  Location loc;
};

/// A token as an error message quotes it: `string "a b"`, `'%x'`, `'('`.
std::string describe(const Token &t) {
  switch (t.kind) {
  case Tok::End:
    return "end of input";
  case Tok::String:
    return "string " + quoteBytes(t.text, '"');
  case Tok::PercentId:
    return quoteBytes("%" + t.text);
  case Tok::AtId:
    return quoteBytes("@" + t.text);
  default:
    return quoteBytes(t.text);
  }
}

class Lexer {
public:
  Lexer(std::string_view text, const std::string &file, int first_line)
      : text_(text), file_(file), line_(first_line) {}

  Token next() {
    skipSpaceAndComments();
    Token t;
    t.loc = Location{file_, clampToInt(line_), clampToInt(col_), true};
    if (pos_ >= text_.size())
      return t;
    char c = text_[pos_];
    auto isIdChar = [](char ch) {
      return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '.' || ch == '$' ||
             ch == '-';
    };
    if (c == '%' || c == '@') {
      advance();
      t.kind = c == '%' ? Tok::PercentId : Tok::AtId;
      while (pos_ < text_.size() && isIdChar(text_[pos_]))
        t.text += advance();
      if (t.text.empty())
        throw Error(t.loc, fmt::format("expected a name after '{}'", c));
      return t;
    }
    if (c == '"') {
      advance();
      t.kind = Tok::String;
      while (true) {
        if (pos_ >= text_.size() || text_[pos_] == '\n')
          throw Error(t.loc, "unterminated string");
        char ch = advance();
        if (ch == '"')
          break;
        if (ch == '\\')
          ch = unescape();
        t.text += ch;
      }
      return t;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) ||
        (c == '-' && pos_ + 1 < text_.size() &&
         (std::isdigit(static_cast<unsigned char>(text_[pos_ + 1])) ||
          text_.substr(pos_ + 1, 3) == "inf"))) {
      t.kind = Tok::Int;
      t.text += advance();
      if (text_.substr(pos_, 3) == "inf") {
        t.text += "inf";
        pos_ += 3;
        col_ += 3;
        t.kind = Tok::Float;
        return t;
      }
      while (pos_ < text_.size()) {
        char ch = text_[pos_];
        if (std::isdigit(static_cast<unsigned char>(ch))) {
          t.text += advance();
        } else if (ch == '.' || ch == 'e' || ch == 'E') {
          t.kind = Tok::Float;
          t.text += advance();
          if ((ch == 'e' || ch == 'E') && pos_ < text_.size() &&
              (text_[pos_] == '-' || text_[pos_] == '+'))
            t.text += advance();
        } else {
          break;
        }
      }
      return t;
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      t.kind = Tok::Ident;
      while (pos_ < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[pos_])) ||
                                     text_[pos_] == '_' || text_[pos_] == '.'))
        t.text += advance();
      return t;
    }
    if (std::string_view("()[]{}:,=#").find(c) != std::string_view::npos) {
      t.kind = Tok::Punct;
      t.text = std::string(1, advance());
      return t;
    }
    throw Error(t.loc,
                fmt::format("unexpected character {}",
                            quoteBytes(text_.substr(pos_, characterLength(text_.substr(pos_))))));
  }

private:
  /// Lines and columns are counted in 64 bits; a location past INT_MAX (a text of gigabytes)
  /// says INT_MAX rather than wrapping.
  static int clampToInt(int64_t v) { return static_cast<int>(std::min<int64_t>(v, INT_MAX)); }

  /// The character an escape in a string stands for, after its backslash: \n, \t, \r, \0 and
  /// \xHH (as the printer and error messages write control characters), \" and \\. Any other
  /// is an error at the escape.
  char unescape() {
    Location at{file_, clampToInt(line_), clampToInt(col_) - 1};
    char c = pos_ < text_.size() ? advance() : '\0';
    switch (c) {
    case 'n':
      return '\n';
    case 't':
      return '\t';
    case 'r':
      return '\r';
    case '0':
      return '\0';
    case '"':
    case '\\':
      return c;
    case 'x': {
      auto hex = [](char h) {
        if (h >= '0' && h <= '9')
          return h - '0';
        h = static_cast<char>(h | 0x20);
        return h >= 'a' && h <= 'f' ? h - 'a' + 10 : -1;
      };
      int hi = pos_ < text_.size() ? hex(text_[pos_]) : -1;
      int lo = pos_ + 1 < text_.size() ? hex(text_[pos_ + 1]) : -1;
      if (hi < 0 || lo < 0)
        throw Error(at, "expected two hexadecimal digits after '\\x' in a string");
      advance();
      advance();
      return static_cast<char>(hi * 16 + lo);
    }
    default:
      throw Error(at, fmt::format("unknown escape in a string, a backslash before '{}': the "
                                  "escapes are \\n, \\t, \\r, \\0, \\xHH, \\\" and \\\\",
                                  escapeBytes(std::string(1, c))));
    }
  }

  char advance() {
    char c = text_[pos_++];
    if (c == '\n') {
      ++line_;
      col_ = 1;
    } else {
      ++col_;
    }
    return c;
  }
  void skipSpaceAndComments() {
    while (pos_ < text_.size()) {
      if (std::isspace(static_cast<unsigned char>(text_[pos_]))) {
        advance();
      } else if (text_.substr(pos_, 2) == "//") {
        while (pos_ < text_.size() && text_[pos_] != '\n')
          advance();
      } else {
        break;
      }
    }
  }

  std::string_view text_;
  const std::string &file_;
  size_t pos_ = 0;
  int64_t line_;
  int64_t col_ = 1;
};

class Parser {
public:
  Parser(std::string_view text, const std::string &file, int first_line)
      : lex_(text, file, first_line) {
    tok_ = lex_.next();
  }

  std::unique_ptr<Graph> parse() {
    parseFormat();
    expectIdent("graph");
    Token name = expect(Tok::AtId, "a graph name like '@main'");
    auto g = std::make_unique<Graph>(name.text);
    graph_ = g.get();
    expectPunct("{");
    while (!isPunct("}")) {
      if (tok_.kind == Tok::End)
        error(tok_, "expected '}' to close the graph, found end of input");
      if (isIdent("input"))
        parseInput();
      else if (isIdent("output"))
        parseOutput();
      else if (tok_.kind == Tok::PercentId)
        parseNode();
      else
        error(tok_, fmt::format("expected 'input', 'output' or a node like '%0 = ...', found {}",
                                describe(tok_)));
    }
    take();
    if (tok_.kind != Tok::End)
      error(tok_, fmt::format("expected end of input after the graph, found {}", describe(tok_)));
    verifyGraph(*g);
    return g;
  }

private:
  [[noreturn]] void error(const Token &at, std::string msg) { throw Error(at.loc, std::move(msg)); }

  Token take() {
    Token t = std::move(tok_);
    tok_ = lex_.next();
    return t;
  }
  bool isPunct(std::string_view p) const { return tok_.kind == Tok::Punct && tok_.text == p; }
  bool isIdent(std::string_view id) const { return tok_.kind == Tok::Ident && tok_.text == id; }
  Token expect(Tok kind, std::string_view what) {
    if (tok_.kind != kind)
      error(tok_, fmt::format("expected {}, found {}", what, describe(tok_)));
    return take();
  }
  void expectPunct(std::string_view p) {
    if (!isPunct(p))
      error(tok_, fmt::format("expected '{}', found {}", p, describe(tok_)));
    take();
  }
  void expectIdent(std::string_view id) {
    if (!isIdent(id))
      error(tok_, fmt::format("expected '{}', found {}", id, describe(tok_)));
    take();
  }

  /// Reads the optional first line, "kiln.format N": a text without it is read as this kiln's
  /// format, and a format this kiln does not read is refused.
  void parseFormat() {
    if (!isIdent("kiln.format"))
      return;
    take();
    if (tok_.kind != Tok::Int)
      error(tok_, fmt::format("expected a format number after 'kiln.format', like 'kiln.format "
                              "{}', found {}",
                              kTextFormat, describe(tok_)));
    Token t = take();
    int64_t format = 0;
    auto res = std::from_chars(t.text.data(), t.text.data() + t.text.size(), format);
    bool fits = res.ec == std::errc() && res.ptr == t.text.data() + t.text.size();
    if (fits && format >= 1 && format <= kTextFormat)
      return;
    if (t.text[0] == '-' || (fits && format < 1))
      error(t, fmt::format("unknown format {}: formats are numbered from 1, and this kiln reads "
                           "format {}",
                           t.text, kTextFormat));
    error(t, fmt::format("written by a newer kiln: format {}, this kiln reads format {}", t.text,
                         kTextFormat));
  }

  /// Reads an integer, which must lie in [lo, hi]: `what` names it in errors ("line number").
  /// The error points at the integer and names its value and the range.
  int64_t parseInt(std::string_view what, int64_t lo = std::numeric_limits<int64_t>::min(),
                   int64_t hi = std::numeric_limits<int64_t>::max()) {
    Token t = expect(Tok::Int, fmt::format("{} {}", what == "integer" ? "an" : "a", what));
    int64_t v = 0;
    auto res = std::from_chars(t.text.data(), t.text.data() + t.text.size(), v);
    bool fits = res.ec == std::errc() && res.ptr == t.text.data() + t.text.size();
    if (!fits || v < lo || v > hi)
      error(t, fmt::format("{} {} is out of range [{}, {}]", what, t.text, lo, hi));
    return v;
  }

  TensorType parseType() {
    Token t = expect(Tok::Ident, "a type like 'f32[2,3]'");
    auto dtype = parseDType(t.text);
    if (!dtype)
      error(t, fmt::format("unknown dtype {}; expected f32, f64, bf16, i32, i64 or bool",
                           quoteBytes(t.text)));
    TensorType type{*dtype, {}};
    expectPunct("[");
    while (!isPunct("]")) {
      if (!type.shape.empty())
        expectPunct(",");
      Token d = tok_;
      int64_t dim = parseInt("dimension", 0, kMaxElements);
      type.shape.push_back(dim);
      if (!validShape(type.shape))
        error(d, fmt::format("dimension {} gives the shape {} more than 2^48 elements", dim,
                             shapeStr(type.shape)));
    }
    take();
    return type;
  }

  std::optional<Location> parseLoc() {
    if (!isIdent("loc"))
      return std::nullopt;
    take();
    expectPunct("(");
    // loc("file":line[:col] [in "scope"] [at "file":line[:col]]): the printer's forms.
    Location loc;
    parsePoint(loc.file, loc.line, loc.col);
    if (isIdent("in")) {
      take();
      loc.scope = expect(Tok::String, "a module scope string after 'in'").text;
    }
    if (isIdent("at")) {
      take();
      parsePoint(loc.caller_file, loc.caller_line, loc.caller_col);
    }
    expectPunct(")");
    return loc;
  }

  /// "file":line[:col] of a loc(...).
  void parsePoint(std::string &file, int &line, int &col) {
    file = expect(Tok::String, "a file name string").text;
    expectPunct(":");
    // Line 0 is a location in a file without a line (Location::str prints the file alone).
    line = static_cast<int>(parseInt("line number", 0, INT_MAX));
    if (isPunct(":")) {
      take();
      col = static_cast<int>(parseInt("column number", 1, INT_MAX));
    }
  }

  void parseInput() {
    Token start = take();
    Token kind = expect(Tok::Ident, "an input kind (data, param or state)");
    InputKind k;
    if (kind.text == "data")
      k = InputKind::Data;
    else if (kind.text == "param")
      k = InputKind::Parameter;
    else if (kind.text == "state")
      k = InputKind::State;
    else
      error(kind, fmt::format("unknown input kind {}; expected data, param or state",
                              quoteBytes(kind.text)));
    Token name = expect(Tok::PercentId, "an input name like '%x'");
    if (values_.count(name.text))
      error(name, fmt::format("redefinition of {}", quoteBytes("%" + name.text)));
    expectPunct(":");
    TensorType type = parseType();
    InputRole role = InputRole::None;
    if (isIdent("role")) {
      take();
      Token r = expect(Tok::Ident, "an input role (source, target, step or seed)");
      auto parsed = parseInputRole(r.text);
      if (!parsed)
        error(r, fmt::format("unknown input role {}; expected source, target, step or seed",
                             quoteBytes(r.text)));
      role = *parsed;
    }
    Location loc = parseLoc().value_or(start.loc);
    values_[name.text] = graph_->addInput(name.text, k, type, loc, role);
  }

  Value *parseValueRef() {
    Token name = expect(Tok::PercentId, "a value like '%0'");
    std::string key = name.text;
    if (isPunct("#")) {
      take();
      key += "#" + std::to_string(parseInt("result number", 0, INT_MAX));
    }
    auto it = values_.find(key);
    if (it == values_.end())
      error(name, fmt::format("use of undefined value {}", quoteBytes("%" + key)));
    return it->second;
  }

  Attribute parseAttrValue() {
    Token t = tok_;
    if (t.kind == Tok::Int) {
      return Attribute(parseInt("integer"));
    }
    if (t.kind == Tok::Float || (t.kind == Tok::Ident && (t.text == "inf" || t.text == "nan"))) {
      take();
      return Attribute(parseFloat(t));
    }
    if (t.kind == Tok::String)
      return Attribute(take().text);
    if (t.kind == Tok::Ident) {
      take();
      if (t.text == "true" || t.text == "false")
        return Attribute(t.text == "true");
      if (auto dt = parseDType(t.text))
        return Attribute(*dt);
      error(t, fmt::format("expected an attribute value, found {}", describe(t)));
    }
    if (isPunct("[")) {
      take();
      IntList ints;
      FloatList floats;
      bool any_float = false;
      std::optional<Token> beyond_double; // an integer that a float list would round
      while (!isPunct("]")) {
        if (!floats.empty())
          expectPunct(",");
        Token e = tok_;
        if (e.kind == Tok::Int) {
          int64_t v = parseInt("integer");
          ints.push_back(v);
          floats.push_back(static_cast<double>(v));
          if (v > kMaxExactInteger || v < -kMaxExactInteger)
            beyond_double = e;
        } else if (e.kind == Tok::Float ||
                   (e.kind == Tok::Ident && (e.text == "inf" || e.text == "nan"))) {
          take();
          any_float = true;
          floats.push_back(parseFloat(e));
        } else {
          error(e, fmt::format("expected a number in the list, found {}", describe(e)));
        }
      }
      take();
      if (any_float && beyond_double)
        error(*beyond_double, fmt::format("integer {} in a list of floats is out of range [-2^53, "
                                          "2^53], where a float holds every integer",
                                          beyond_double->text));
      return any_float ? Attribute(floats) : Attribute(ints);
    }
    error(t, fmt::format("expected an attribute value, found {}", describe(t)));
  }

  double parseFloat(const Token &t) {
    if (t.text == "inf")
      return INFINITY;
    if (t.text == "-inf")
      return -INFINITY;
    if (t.text == "nan")
      return NAN;
    double v = 0;
    auto res = std::from_chars(t.text.data(), t.text.data() + t.text.size(), v);
    if (res.ec == std::errc::result_out_of_range && res.ptr == t.text.data() + t.text.size())
      error(t, fmt::format("float {} is out of range for f64: its magnitude must lie in [{}, {}] "
                           "or be 0",
                           t.text, std::numeric_limits<double>::denorm_min(),
                           std::numeric_limits<double>::max()));
    if (res.ec != std::errc() || res.ptr != t.text.data() + t.text.size())
      error(t, fmt::format("malformed number {}", quoteBytes(t.text)));
    return v;
  }

  void parseNode() {
    Token result = take();
    if (values_.count(result.text) || values_.count(result.text + "#0"))
      error(result, fmt::format("redefinition of {}", quoteBytes("%" + result.text)));
    int64_t count = 1;
    bool multi = false;
    if (isPunct(":")) {
      take();
      count = parseInt("result count", 1, INT_MAX);
      multi = true;
    }
    expectPunct("=");
    Token opname = expect(Tok::Ident, "an op name");
    const OpDef *op = lookupOp(opname.text);
    if (!op)
      error(opname, fmt::format("unknown op {}", quoteBytes(opname.text)));
    expectPunct("(");
    std::vector<Value *> operands;
    while (!isPunct(")")) {
      if (!operands.empty())
        expectPunct(",");
      operands.push_back(parseValueRef());
    }
    take();
    AttrMap attrs;
    if (isPunct("{")) {
      take();
      while (!isPunct("}")) {
        if (!attrs.empty())
          expectPunct(",");
        Token name = expect(Tok::Ident, "an attribute name");
        expectPunct("=");
        // A constant printed elided: refused here, where it is named, before the lexer meets '<'.
        if (isIdent("elided"))
          error(tok_, fmt::format("{} {}: its values were elided when printed; print with "
                                  "--elide-constants-larger-than=0 to get a file that can be "
                                  "read back",
                                  op->name, quoteBytes("%" + result.text)));
        if (!attrs.emplace(name.text, parseAttrValue()).second)
          error(name, fmt::format("attribute {} is given twice", quoteBytes(name.text)));
      }
      take();
    }
    expectPunct(":");
    std::vector<TensorType> types{parseType()};
    while (isPunct(",")) {
      take();
      types.push_back(parseType());
    }
    int group = -1;
    if (isIdent("group")) {
      take();
      expectPunct("(");
      group = static_cast<int>(parseInt("fusion group number", 0, 1'000'000'000));
      expectPunct(")");
    }
    Location loc = parseLoc().value_or(opname.loc);
    if (static_cast<int64_t>(types.size()) != count)
      error(opname, fmt::format("{}: {} result types given for {} result{}", op->name, types.size(),
                                count, count == 1 ? "" : "s"));
    // Check the node where it is written, so errors point into this file.
    attrs = checkAttributes(*op, std::move(attrs), opname.loc);
    std::vector<TensorType> operand_types;
    for (Value *v : operands)
      operand_types.push_back(v->type);
    std::vector<TensorType> inferred = inferTypes(*op, operand_types, attrs, opname.loc);
    if (inferred.size() != types.size())
      error(opname, fmt::format("{}: the op has {} result{}, found {}", op->name, inferred.size(),
                                inferred.size() == 1 ? "" : "s", types.size()));
    for (size_t i = 0; i < types.size(); ++i)
      if (types[i] != inferred[i])
        error(opname, fmt::format("{}: result {} is declared {}, but the operands give {}",
                                  op->name, i, types[i].str(), inferred[i].str()));
    Node *n =
        graph_->addNodeUnchecked(*op, std::move(operands), std::move(attrs), std::move(types), loc);
    n->group = group;
    if (multi) {
      for (int64_t i = 0; i < count; ++i)
        values_[result.text + "#" + std::to_string(i)] = n->result(static_cast<int>(i));
    } else {
      values_[result.text] = n->result();
    }
  }

  void parseOutput() {
    Token start = take();
    Token name = expect(Tok::String, "an output name string");
    expectPunct("=");
    Value *v = parseValueRef();
    if (graph_->findOutput(name.text))
      error(name, fmt::format("output {} is declared twice", quoteBytes(name.text, '"')));
    std::string updates;
    if (isIdent("updates")) {
      take();
      Token target = tok_;
      Value *in = parseValueRef();
      if (in->def)
        error(target, fmt::format("'updates' names an input, found the node result {}",
                                  quoteBytes("%" + target.text)));
      updates = graph_->inputs()[in->index].name;
    }
    graph_->addOutput(name.text, v, start.loc, std::move(updates));
  }

  Lexer lex_;
  Token tok_;
  Graph *graph_ = nullptr;
  NameMap<Value *> values_; ///< by name without the '%': "x", "3", "3#1"
};

} // namespace

std::unique_ptr<Graph> parseGraph(std::string_view text, const std::string &filename,
                                  int first_line) {
  return Parser(text, filename, first_line).parse();
}

} // namespace kiln
