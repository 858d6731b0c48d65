pid$target::readline:return { @ret = quantize(arg1); }
