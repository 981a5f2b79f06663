using System.Runtime.CompilerServices;
using CudaI2V.Native.Blas;
using CudaI2V.Native.Errors;

namespace CudaI2V.Tests.Native;

public sealed class CudaExceptionTests
{
    [Fact]
    public void The_message_names_the_api_and_the_librarys_own_words()
    {
        var e = new CudaException("CUDA driver", "DriverApi.cuMemAlloc_v2(out var pointer, (nuint)bytes)", 2, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory");

        Assert.Equal("cuMemAlloc_v2 failed: CUDA_ERROR_OUT_OF_MEMORY (out of memory)", e.Message);
        Assert.Equal("cuMemAlloc_v2", e.Api);
        Assert.Equal("CUDA driver", e.Library);
        Assert.Equal(2, e.Code);
        Assert.Equal("CUDA_ERROR_OUT_OF_MEMORY", e.ErrorName);
        Assert.Equal("out of memory", e.ErrorString);
        Assert.Equal("DriverApi.cuMemAlloc_v2(out var pointer, (nuint)bytes)", e.Call);
        Assert.Null(e.Kernel);
    }

    [Fact]
    public void A_launch_failure_starts_with_the_kernel()
    {
        var e = new CudaException("CUDA driver", "DriverApi.cuStreamSynchronize(stream)", 700, "CUDA_ERROR_ILLEGAL_ADDRESS", "an illegal memory access was encountered", "fill_f16");

        Assert.Equal("kernel fill_f16: cuStreamSynchronize failed: CUDA_ERROR_ILLEGAL_ADDRESS (an illegal memory access was encountered)", e.Message);
        Assert.Equal("fill_f16", e.Kernel);
    }

    [Fact]
    public void A_compile_failure_carries_kernel_options_and_log()
    {
        var e = new NvrtcCompileException("Fill.cu", ["--gpu-architecture=sm_90", "--std=c++17"], "Fill.cu(3): error: expected a \";\"", 6, "NVRTC_ERROR_COMPILATION");

        Assert.IsAssignableFrom<CudaException>(e);
        Assert.Equal("Fill.cu", e.Kernel);
        Assert.Equal(["--gpu-architecture=sm_90", "--std=c++17"], e.Options);
        Assert.Contains("NVRTC could not compile Fill.cu (NVRTC_ERROR_COMPILATION) with options [--gpu-architecture=sm_90 --std=c++17]", e.Message, StringComparison.Ordinal);
        Assert.EndsWith("Fill.cu(3): error: expected a \";\"", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("CublasApi.cublasGemmEx(handle, a, b)", "cublasGemmEx")]
    [InlineData("NvrtcApi.nvrtcGetPTX(program, p)", "nvrtcGetPTX")]
    [InlineData("cuModuleLoadDataEx(image)", "cuModuleLoadDataEx")]
    public void The_api_name_is_read_from_the_call(string call, string api) => Assert.Equal(api, CudaException.ApiName(call));

    [Fact]
    public void The_cublaslt_heuristic_result_has_the_headers_size()
    {
        // cublasLtMatmulHeuristicResult_t: algo (uint64_t[8]), size_t workspaceSize, cublasStatus_t state,
        // float wavesCount, int reserved[4].
        Assert.Equal(96, Unsafe.SizeOf<CublasLtHeuristicResult>());
        Assert.Equal(64, Unsafe.SizeOf<CublasLtMatmulAlgo>());
    }
}
