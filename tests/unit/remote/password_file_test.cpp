// read_password_file: the first line, and a refusal for files others may read or write.
#include "delivery/remote/password_file.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

namespace sealpost::delivery::remote {
namespace {

namespace fs = std::filesystem;

class PasswordFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("pwfile-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path write(const std::string& text, mode_t mode) {
    fs::path p = dir_ / "password";
    std::ofstream(p, std::ios::binary) << text;
    ::chmod(p.c_str(), mode);
    return p;
  }

  fs::path dir_;
};

TEST_F(PasswordFile, FirstLineWithoutLineEnd) {
  EXPECT_EQ(read_password_file(write("s3cret pass\n", 0600)).value(), "s3cret pass");
  EXPECT_EQ(read_password_file(write("crlf\r\nsecond line\n", 0400)).value(), "crlf");
  EXPECT_EQ(read_password_file(write("no newline", 0600)).value(), "no newline");
}

TEST_F(PasswordFile, GroupOrOtherAccessIsRefused) {
  for (mode_t mode : {0644, 0640, 0604, 0620, 0602}) {
    auto r = read_password_file(write("secret\n", mode));
    ASSERT_FALSE(r.has_value()) << std::oct << mode;
    EXPECT_NE(r.error().find("chmod 600"), std::string::npos) << r.error();
  }
}

TEST_F(PasswordFile, EmptyMissingAndDirectoryAreErrors) {
  EXPECT_FALSE(read_password_file(write("\n", 0600)).has_value());
  EXPECT_FALSE(read_password_file(write("", 0600)).has_value());
  auto missing = read_password_file(dir_ / "nope");
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().find("nope"), std::string::npos);
  ::chmod(dir_.c_str(), 0700);
  EXPECT_FALSE(read_password_file(dir_).has_value());
}

}  // namespace
}  // namespace sealpost::delivery::remote
