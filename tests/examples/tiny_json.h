// SPDX-License-Identifier: MIT
// A tiny JSON reader for tests: parses a document and flattens it to "a.b.c" -> value text
// (numbers as written, strings unescaped, true/false/null as words). Enough to check that
// host_sim's --json output is well formed and carries its numbers; not a general parser.
#ifndef IRQVIRT_TESTS_EXAMPLES_TINY_JSON_H_
#define IRQVIRT_TESTS_EXAMPLES_TINY_JSON_H_

#include <cctype>
#include <map>
#include <optional>
#include <string>

namespace tiny_json {

class Reader {
 public:
  explicit Reader(const std::string& text) : s_(text) {}

  // nullopt on any syntax error or trailing garbage.
  std::optional<std::map<std::string, std::string>> Flatten() {
    std::map<std::string, std::string> out;
    if (!Value("", out)) return std::nullopt;
    Space();
    if (i_ != s_.size()) return std::nullopt;
    return out;
  }

 private:
  void Space() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  bool Eat(char c) {
    Space();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  bool String(std::string& out) {
    if (!Eat('"')) return false;
    while (i_ < s_.size() && s_[i_] != '"') {
      if (s_[i_] == '\\') {
        if (++i_ >= s_.size()) return false;
        out += s_[i_] == 'n' ? '\n' : s_[i_];
      } else {
        out += s_[i_];
      }
      ++i_;
    }
    return i_++ < s_.size();
  }
  bool Value(const std::string& path, std::map<std::string, std::string>& out) {
    Space();
    if (i_ >= s_.size()) return false;
    const char c = s_[i_];
    if (c == '{') {
      ++i_;
      if (Eat('}')) return true;
      do {
        std::string key;
        if (!String(key) || !Eat(':')) return false;
        if (!Value(path.empty() ? key : path + "." + key, out)) return false;
      } while (Eat(','));
      return Eat('}');
    }
    if (c == '[') {
      ++i_;
      if (Eat(']')) return true;
      int n = 0;
      do {
        if (!Value(path + "." + std::to_string(n++), out)) return false;
      } while (Eat(','));
      return Eat(']');
    }
    if (c == '"') {
      std::string v;
      if (!String(v)) return false;
      out[path] = v;
      return true;
    }
    const size_t start = i_;
    while (i_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[i_])) || s_[i_] == '.' ||
                              s_[i_] == '-' || s_[i_] == '+')) {
      ++i_;
    }
    if (i_ == start) return false;
    const std::string word = s_.substr(start, i_ - start);
    if (word != "true" && word != "false" && word != "null") {
      char* end = nullptr;
      std::strtod(word.c_str(), &end);
      if (*end != '\0') return false;
    }
    out[path] = word;
    return true;
  }

  const std::string& s_;
  size_t i_ = 0;
};

}  // namespace tiny_json

#endif  // IRQVIRT_TESTS_EXAMPLES_TINY_JSON_H_
