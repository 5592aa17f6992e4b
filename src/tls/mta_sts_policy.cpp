// The RFC 8461 grammars, strictly: §3.1 for the TXT record, §3.2 for the policy file. Anything
// that does not parse means "no policy" to the caller, never a guess; the only leniency is
// blank lines and trailing blanks, which change no field's meaning.
#include "tls/mta_sts_policy.hpp"

#include <algorithm>

namespace sealpost::tls {

namespace {

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return is_alpha(c) || is_digit(c); }
bool is_wsp(char c) { return c == ' ' || c == '\t'; }

char to_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), to_lower);
  return out;
}

std::string_view trim_wsp(std::string_view s) {
  while (!s.empty() && is_wsp(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_wsp(s.back())) s.remove_suffix(1);
  return s;
}

// sts-ext-name / sts-policy-ext-name: (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
bool valid_field_name(std::string_view name) {
  if (name.empty() || name.size() > 32 || !is_alnum(name.front())) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return is_alnum(c) || c == '_' || c == '-' || c == '.'; });
}

// sts-ext-value: 1*(%x21-3A / %x3C / %x3E-7E): printable, no ';' or '='.
bool valid_txt_value(std::string_view value) {
  return !value.empty() && std::all_of(value.begin(), value.end(), [](char c) {
    return c >= 0x21 && c <= 0x7E && c != ';' && c != '=';
  });
}

// Policy values (sts-policy-ext-value): printable ASCII, inner blanks allowed.
bool valid_policy_value(std::string_view value) {
  return !value.empty() && std::all_of(value.begin(), value.end(), [](char c) {
    return (c >= 0x21 && c <= 0x7E) || is_wsp(c);
  });
}

// RFC 5321 §4.1.2 Domain: labels of letters, digits and inner hyphens.
bool valid_domain(std::string_view d) {
  if (d.empty() || d.size() > 253) return false;
  for (;;) {
    auto dot = d.find('.');
    std::string_view label = d.substr(0, dot);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
      return false;
    if (!std::all_of(label.begin(), label.end(), [](char c) { return is_alnum(c) || c == '-'; }))
      return false;
    if (dot == std::string_view::npos) return true;
    d.remove_prefix(dot + 1);
  }
}

// sts-policy-mx-value: ["*."] Domain
bool valid_mx_pattern(std::string_view p) {
  if (p.starts_with("*.")) p.remove_prefix(2);
  return valid_domain(p);
}

bool fail(std::string* error, std::string text) {
  if (error) *error = std::move(text);
  return false;
}

std::nullopt_t invalid(std::string* error, std::string text) {
  fail(error, std::move(text));
  return std::nullopt;
}

struct PolicyFields {
  std::optional<std::string> version, mode, max_age;
  std::vector<std::string> mx;
};

// One "key: value" line into `fields`; false (with `error`) when the line is malformed.
bool take_line(std::string_view line, PolicyFields& fields, std::string* error) {
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return fail(error, "a line without ':'");
  std::string_view key = line.substr(0, colon);
  std::string_view value = trim_wsp(line.substr(colon + 1));
  if (!valid_field_name(key)) return fail(error, "malformed key \"" + std::string(key) + "\"");
  if (!valid_policy_value(value)) return fail(error, "malformed value for " + std::string(key));
  if (key == "mx") {
    if (!valid_mx_pattern(value)) return fail(error, "malformed mx \"" + std::string(value) + "\"");
    fields.mx.push_back(lower(value));
    return true;
  }
  // §3.2: a repeated non-mx field keeps its first value; unknown keys are ignored.
  std::optional<std::string>* slot = key == "version"   ? &fields.version
                                     : key == "mode"    ? &fields.mode
                                     : key == "max_age" ? &fields.max_age
                                                        : nullptr;
  if (slot != nullptr && !*slot) *slot = std::string(value);
  return true;
}

}  // namespace

const char* mta_sts_mode_name(MtaStsPolicy::Mode mode) {
  switch (mode) {
    case MtaStsPolicy::Mode::kNone:
      return "none";
    case MtaStsPolicy::Mode::kTesting:
      return "testing";
    case MtaStsPolicy::Mode::kEnforce:
      return "enforce";
  }
  return "?";
}

bool MtaStsPolicy::matches(std::string_view host) const {
  return std::any_of(mx.begin(), mx.end(),
                     [&](const std::string& p) { return mta_sts_mx_matches(p, host); });
}

std::optional<MtaStsRecord> parse_mta_sts_record(std::string_view text) {
  // sts-text-record = sts-version 1*(sts-field-delim sts-field) [sts-field-delim]
  constexpr std::string_view kVersion = "v=STSv1";
  if (!text.starts_with(kVersion)) return std::nullopt;
  text.remove_prefix(kVersion.size());
  std::optional<std::string> id;
  for (;;) {
    text = trim_wsp(text);  // sts-field-delim = *WSP ";" *WSP (trailing blanks tolerated)
    if (text.empty()) break;
    if (text.front() != ';') return std::nullopt;
    text = trim_wsp(text.substr(1));
    if (text.empty()) break;  // the optional final delimiter
    auto end = std::min(text.find(';'), text.size());
    std::string_view field = text.substr(0, end);
    while (!field.empty() && is_wsp(field.back())) field.remove_suffix(1);
    text.remove_prefix(field.size());
    auto eq = field.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    std::string_view name = field.substr(0, eq), value = field.substr(eq + 1);
    if (!valid_field_name(name) || !valid_txt_value(value)) return std::nullopt;
    if (name == "id") {
      // sts-id = "id=" 1*32(ALPHA / DIGIT); a repeated id keeps the first (§3.2's rule).
      if (value.size() > 32 || !std::all_of(value.begin(), value.end(), is_alnum))
        return std::nullopt;
      if (!id) id = std::string(value);
    }
  }
  if (!id) return std::nullopt;  // §3.1: id is required
  return MtaStsRecord{*id};
}

std::optional<MtaStsRecord> select_mta_sts_record(const std::vector<std::string>& texts) {
  const std::string* chosen = nullptr;
  for (const std::string& t : texts) {
    std::string_view v(t);
    if (!v.starts_with("v=STSv1")) continue;
    v.remove_prefix(7);
    if (!v.empty() && v.front() != ';' && !is_wsp(v.front())) continue;  // "v=STSv10"
    if (chosen != nullptr) return std::nullopt;  // §3.1: more than one: no policy
    chosen = &t;
  }
  if (chosen == nullptr) return std::nullopt;
  return parse_mta_sts_record(*chosen);
}

std::optional<MtaStsPolicy> parse_mta_sts_policy(std::string_view body, std::string* error) {
  PolicyFields fields;
  while (!body.empty()) {
    auto lf = body.find('\n');
    std::string_view line = body.substr(0, lf);
    body.remove_prefix(lf == std::string_view::npos ? body.size() : lf + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);  // CRLF or LF (§3.2)
    if (line.find('\r') != std::string_view::npos) return invalid(error, "bare CR");
    if (trim_wsp(line).empty()) continue;
    if (!take_line(line, fields, error)) return std::nullopt;
  }
  if (fields.version != "STSv1") return invalid(error, "version is not STSv1");
  MtaStsPolicy policy;
  if (fields.mode == "enforce") {
    policy.mode = MtaStsPolicy::Mode::kEnforce;
  } else if (fields.mode == "testing") {
    policy.mode = MtaStsPolicy::Mode::kTesting;
  } else if (fields.mode == "none") {
    policy.mode = MtaStsPolicy::Mode::kNone;
  } else {
    return invalid(error, "mode is not enforce, testing or none");
  }
  // sts-policy-max-age-value = 1*10(DIGIT), at most kMtaStsMaxAge.
  const std::string& age = fields.max_age.value_or("");
  if (age.empty() || age.size() > 10 || !std::all_of(age.begin(), age.end(), is_digit) ||
      std::stoull(age) > kMtaStsMaxAge)
    return invalid(error, "max_age missing or not 0-" + std::to_string(kMtaStsMaxAge));
  policy.max_age = static_cast<std::uint32_t>(std::stoull(age));
  // Without a pattern, testing/enforce would name no host at all: not a usable policy.
  if (fields.mx.empty() && policy.mode != MtaStsPolicy::Mode::kNone)
    return invalid(error, "no mx pattern");
  policy.mx = std::move(fields.mx);
  return policy;
}

std::string format_mta_sts_policy(const MtaStsPolicy& policy) {
  std::string out = "version: STSv1\r\nmode: " + std::string(mta_sts_mode_name(policy.mode)) +
                    "\r\nmax_age: " + std::to_string(policy.max_age) + "\r\n";
  for (const std::string& mx : policy.mx) out += "mx: " + mx + "\r\n";
  return out;
}

bool mta_sts_mx_matches(std::string_view pattern, std::string_view host) {
  std::string p = lower(pattern), h = lower(host);
  if (!p.empty() && p.back() == '.') p.pop_back();
  if (!h.empty() && h.back() == '.') h.pop_back();
  if (!p.starts_with("*.")) return !p.empty() && p == h;
  auto dot = h.find('.');
  return dot != std::string::npos && dot > 0 && h.substr(dot + 1) == p.substr(2);
}

}  // namespace sealpost::tls
