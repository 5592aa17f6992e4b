// libFuzzer target for the address and command parsers: parse_path (both option sets),
// parse_esmtp_params, parse_command and strip_keyword. Checks the RFC 5321 §4.5.3.1 limits on
// every accepted path, that an accepted mailbox re-parses to itself, and the parameter grammar.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "smtp/address.hpp"
#include "smtp/command.hpp"

namespace {

using namespace sealpost::smtp;

[[noreturn]] void fail(const char* what, std::string_view detail) {
  std::fprintf(stderr, "invariant violated: %s: %.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

bool within(std::string_view part, std::string_view whole) {
  return part.empty() ||
         (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

void check_path(std::string_view in, PathOptions options) {
  ParsedPath p = parse_path(in, options);
  if (!p.ok()) return;
  if (!within(p.rest, in)) fail("rest outside input", in);
  if (p.rest.size() >= in.size()) fail("rest not a proper suffix", in);
  if (p.null_path) {
    if (!options.allow_null) fail("null path not allowed", in);
    return;
  }
  const Mailbox& m = p.mailbox;
  if (m.local_part.empty() || m.local_part.size() > 64) fail("local part length", in);
  if (m.domain.size() > 255) fail("domain length", in);
  if (m.domain.empty() &&
      !(options.allow_postmaster && is_ascii_case_equal(m.local_part, "postmaster")))
    fail("domainless mailbox", in);
  if (!is_valid_utf8(m.local_part) || !is_valid_utf8(m.domain)) fail("invalid UTF-8", in);
  bool high = false;
  for (unsigned char c : m.text()) {
    if (c < 32 || c == 127) fail("control byte in mailbox", in);
    high = high || c >= 0x80;
  }
  if (high != m.non_ascii) fail("non_ascii flag wrong", in);
  if (m.text().size() + 2 > 256) fail("path longer than 256", in);
  // An accepted mailbox, written back as a path, parses to the same mailbox.
  std::string again = "<" + m.text() + ">";
  ParsedPath q = parse_path(again, options);
  if (!q.ok() || q.null_path || q.mailbox.local_part != m.local_part ||
      q.mailbox.domain != m.domain || !q.rest.empty())
    fail("mailbox does not round-trip", again);
}

void check_params(std::string_view in) {
  std::vector<EsmtpParam> params;
  if (!parse_esmtp_params(in, &params)) return;
  for (std::size_t i = 0; i < params.size(); ++i) {
    const EsmtpParam& p = params[i];
    if (p.keyword.empty()) fail("empty keyword", in);
    for (unsigned char c : p.keyword)
      if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'))
        fail("bad keyword byte", in);
    if (p.keyword[0] == '-') fail("keyword starts with '-'", in);
    if (p.has_value == p.value.empty()) fail("has_value disagrees with value", in);
    for (unsigned char c : p.value)
      if (c <= ' ' || c == '=' || c == 127) fail("bad value byte", in);
    if (!is_valid_utf8(p.value)) fail("value not UTF-8", in);
    for (std::size_t j = 0; j < i; ++j)
      if (params[j].keyword == p.keyword) fail("duplicate keyword", in);
  }
}

void check_command(std::string_view in) {
  Command c = parse_command(in);
  if (!within(c.argument, in)) fail("argument outside input", in);
  if (c.has_argument != (in.find(' ') != std::string_view::npos)) fail("has_argument", in);
  std::string_view rest;
  for (std::string_view kw : {std::string_view("FROM:"), std::string_view("TO:")}) {
    if (strip_keyword(c.argument, kw, &rest) && !within(rest, c.argument))
      fail("strip_keyword rest outside argument", in);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  check_path(in, PathOptions{.allow_null = true});
  check_path(in, PathOptions{.allow_postmaster = true});
  check_params(in);
  check_command(in);
  // The way ServerSession uses them: "MAIL FROM:<path> params".
  std::string_view rest;
  if (strip_keyword(in, "FROM:", &rest)) {
    ParsedPath p = parse_path(rest, PathOptions{.allow_null = true});
    if (p.ok()) check_params(p.rest);
  }
  is_valid_domain(in);
  is_valid_address_literal(in);
  return 0;
}
