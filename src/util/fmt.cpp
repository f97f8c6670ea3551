// fmt's compiled part, built once here instead of in every translation unit. With FMT_HEADER_ONLY each file
// that formats compiled and optimised fmt's whole engine again (8 of the 10 s a small file took at -O2);
// linking Debian's libfmt.so instead would cost every exec'd CNI plugin a shared library to load (CMakeLists.txt,
// "Start-up cost"). This is what fmt's own src/format.cc holds for char (fmt 9.1, Debian 12's libfmt-dev).
#include <fmt/format-inl.h>

FMT_BEGIN_NAMESPACE
namespace detail {

template FMT_API auto dragonbox::to_decimal(float x) noexcept -> dragonbox::decimal_fp<float>;
template FMT_API auto dragonbox::to_decimal(double x) noexcept -> dragonbox::decimal_fp<double>;

#ifndef FMT_STATIC_THOUSANDS_SEPARATOR
template FMT_API locale_ref::locale_ref(const std::locale& loc);
template FMT_API auto locale_ref::get<std::locale>() const -> std::locale;
#endif

template FMT_API auto thousands_sep_impl(locale_ref) -> thousands_sep_result<char>;
template FMT_API auto decimal_point_impl(locale_ref) -> char;
template FMT_API void buffer<char>::append(const char*, const char*);
template FMT_API void vformat_to(buffer<char>&, string_view, basic_format_args<FMT_BUFFER_CONTEXT(char)>, locale_ref);

}  // namespace detail
FMT_END_NAMESPACE
