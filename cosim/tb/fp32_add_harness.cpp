// Streams FP32 operand pairs from a binary file through the Verilated hw.FP32Adder, one pair
// per clock (fully pipelined, no Python in the loop), and writes the sums.
//
// usage: fp32_add_harness IN.bin OUT.bin LATENCY
//   IN.bin:  n pairs of little-endian uint32 (a0, b0, a1, b1, ...)
//   OUT.bin: n little-endian uint32 sums, out[i] = s seen LATENCY cycles after pair i
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "Vfp32_adder.h"
#include "verilated.h"

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: %s IN.bin OUT.bin LATENCY\n", argv[0]);
        return 2;
    }
    const long latency = std::atol(argv[3]);
    std::FILE* fin = std::fopen(argv[1], "rb");
    if (!fin) { std::perror(argv[1]); return 2; }
    std::fseek(fin, 0, SEEK_END);
    const long bytes = std::ftell(fin);
    std::fseek(fin, 0, SEEK_SET);
    const long n = bytes / 8;
    std::vector<uint32_t> in(2 * n), out(n);
    if ((long)std::fread(in.data(), 8, n, fin) != n) { std::perror("read"); return 2; }
    std::fclose(fin);

    auto* ctx = new VerilatedContext;
    auto* dut = new Vfp32_adder{ctx};
    dut->rst = 1;
    dut->clk = 0; dut->eval();
    dut->clk = 1; dut->eval();
    dut->rst = 0;
    // Inputs for cycle i are set while clk is low; the rising edge i registers them. After
    // edge i, s shows the pair of cycle i - (latency - 1).
    for (long i = 0; i < n + latency; ++i) {
        if (i < n) { dut->a = in[2 * i]; dut->b = in[2 * i + 1]; }
        dut->clk = 0; dut->eval();
        dut->clk = 1; dut->eval();
        long j = i - (latency - 1);
        if (j >= 0 && j < n) out[j] = dut->s;
    }
    dut->final();
    delete dut;
    delete ctx;
    std::FILE* fout = std::fopen(argv[2], "wb");
    if (!fout) { std::perror(argv[2]); return 2; }
    std::fwrite(out.data(), 4, n, fout);
    std::fclose(fout);
    return 0;
}
