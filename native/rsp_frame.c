/* Frames memory replies of the GDB Remote Serial Protocol: `$`, an optional
 * prefix byte, the data with `$ # } *` escaped as `}` and the byte XOR 0x20
 * (x, qXfer) or in hex (m), `#` and the two-digit checksum. Pure computation, no system call: it is here
 * and not in lib/gdbsock/packet.ts because a memory dump frames 512 KiB per
 * reply, and this one pass (16 bytes at a time where SSE2 is there) costs about
 * a tenth of the JavaScript's escape, copy and checksum passes, time gdb
 * otherwise spends waiting (scripts/bench/gdbsock.js, memory). */
#include <string.h>

#include "shims.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static int needs_escape(uint8_t b) { return b == '$' || b == '#' || b == '}' || b == '*'; }

static size_t escape_bytes(const uint8_t *in, size_t len, uint8_t *out) {
  size_t i = 0, j = 0;
#if defined(__SSE2__)
  const __m128i dollar = _mm_set1_epi8('$'), hash = _mm_set1_epi8('#'), brace = _mm_set1_epi8('}'), star = _mm_set1_epi8('*');
  for (; i + 16 <= len; i += 16) {
    __m128i v = _mm_loadu_si128((const __m128i *)(in + i));
    __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, dollar), _mm_cmpeq_epi8(v, hash)),
                               _mm_or_si128(_mm_cmpeq_epi8(v, brace), _mm_cmpeq_epi8(v, star)));
    if (_mm_movemask_epi8(hit) == 0) {
      _mm_storeu_si128((__m128i *)(out + j), v);
      j += 16;
      continue;
    }
    for (size_t k = i; k < i + 16; k++) {
      uint8_t b = in[k];
      if (needs_escape(b)) {
        out[j++] = '}';
        out[j++] = b ^ 0x20;
      } else {
        out[j++] = b;
      }
    }
  }
#endif
  for (; i < len; i++) {
    uint8_t b = in[i];
    if (needs_escape(b)) {
      out[j++] = '}';
      out[j++] = b ^ 0x20;
    } else {
      out[j++] = b;
    }
  }
  return j;
}

static unsigned byte_sum(const uint8_t *p, size_t len) {
  uint64_t sum = 0;
  size_t i = 0;
#if defined(__SSE2__)
  __m128i acc = _mm_setzero_si128(), zero = _mm_setzero_si128();
  for (; i + 16 <= len; i += 16) acc = _mm_add_epi64(acc, _mm_sad_epu8(_mm_loadu_si128((const __m128i *)(p + i)), zero));
  uint64_t lanes[2];
  _mm_storeu_si128((__m128i *)lanes, acc);
  sum = lanes[0] + lanes[1];
#endif
  for (; i < len; i++) sum += p[i];
  return (unsigned)(sum & 0xff);
}

size_t hk_frame_binary(const uint8_t *data, size_t len, int prefix, uint8_t *out) {
  static const char digits[] = "0123456789abcdef";
  size_t j = 1;
  out[0] = '$';
  if (prefix >= 0) out[j++] = (uint8_t)prefix;
  j += escape_bytes(data, len, out + j);
  unsigned sum = byte_sum(out + 1, j - 1);
  out[j++] = '#';
  out[j++] = (uint8_t)digits[sum >> 4];
  out[j++] = (uint8_t)digits[sum & 15];
  return j;
}

/* Two lower-case hex digits per byte, 16 bytes at a time where SSE2 is there. */
static void hex_bytes(const uint8_t *in, size_t len, uint8_t *out) {
  static const char digits[] = "0123456789abcdef";
  size_t i = 0;
#if defined(__SSE2__)
  const __m128i low = _mm_set1_epi8(0x0f), nine = _mm_set1_epi8(9), zero_char = _mm_set1_epi8('0'),
                letter_gap = _mm_set1_epi8('a' - '0' - 10);
  for (; i + 16 <= len; i += 16) {
    __m128i v = _mm_loadu_si128((const __m128i *)(in + i));
    __m128i hi = _mm_and_si128(_mm_srli_epi16(v, 4), low), lo = _mm_and_si128(v, low);
    __m128i first = _mm_unpacklo_epi8(hi, lo), second = _mm_unpackhi_epi8(hi, lo);
    /* n + '0', and ('a' - '0' - 10) more where n > 9 */
    first = _mm_add_epi8(_mm_add_epi8(first, zero_char), _mm_and_si128(_mm_cmpgt_epi8(first, nine), letter_gap));
    second = _mm_add_epi8(_mm_add_epi8(second, zero_char), _mm_and_si128(_mm_cmpgt_epi8(second, nine), letter_gap));
    _mm_storeu_si128((__m128i *)(out + 2 * i), first);
    _mm_storeu_si128((__m128i *)(out + 2 * i + 16), second);
  }
#endif
  for (; i < len; i++) {
    out[2 * i] = (uint8_t)digits[in[i] >> 4];
    out[2 * i + 1] = (uint8_t)digits[in[i] & 15];
  }
}

size_t hk_frame_hex(const uint8_t *data, size_t len, uint8_t *out) {
  static const char digits[] = "0123456789abcdef";
  out[0] = '$';
  hex_bytes(data, len, out + 1);
  size_t j = 1 + 2 * len;
  unsigned sum = byte_sum(out + 1, 2 * len);
  out[j++] = '#';
  out[j++] = (uint8_t)digits[sum >> 4];
  out[j++] = (uint8_t)digits[sum & 15];
  return j;
}
