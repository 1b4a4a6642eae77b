using System;
using System.Runtime.InteropServices;
using System.Text;

namespace Sac.Core.Environments.MuJoCo;

/// <summary>The entry points of <c>libsac_mujoco.so</c> (native/mujoco/sac_mujoco.c), bound once as function pointers.</summary>
internal static unsafe class MuJoCoNative
{
    /// <summary>Size of every error buffer handed to the shim.</summary>
    public const int ErrorBufferSize = 1024;

    static delegate* unmanaged<byte*, byte*, int, int> _init;
    static delegate* unmanaged<byte*, byte*, int, nint> _loadXml;
    static delegate* unmanaged<nint, nint*, byte*, int, int> _makeData;
    static delegate* unmanaged<nint, void> _deleteData;
    static delegate* unmanaged<nint, void> _deleteModel;
    static delegate* unmanaged<nint, nint, byte*, int, int> _reset;
    static delegate* unmanaged<nint, nint, byte*, int, int> _forward;
    static delegate* unmanaged<nint, nint, int, byte*, int, int> _step;
    static delegate* unmanaged<nint, int, byte*, int> _name2id;

    public static void Bind(nint shim)
    {
        _init = (delegate* unmanaged<byte*, byte*, int, int>)NativeLibrary.GetExport(shim, "sacmj_init");
        _loadXml = (delegate* unmanaged<byte*, byte*, int, nint>)NativeLibrary.GetExport(shim, "sacmj_load_xml");
        _makeData = (delegate* unmanaged<nint, nint*, byte*, int, int>)NativeLibrary.GetExport(shim, "sacmj_make_data");
        _deleteData = (delegate* unmanaged<nint, void>)NativeLibrary.GetExport(shim, "sacmj_delete_data");
        _deleteModel = (delegate* unmanaged<nint, void>)NativeLibrary.GetExport(shim, "sacmj_delete_model");
        _reset = (delegate* unmanaged<nint, nint, byte*, int, int>)NativeLibrary.GetExport(shim, "sacmj_reset");
        _forward = (delegate* unmanaged<nint, nint, byte*, int, int>)NativeLibrary.GetExport(shim, "sacmj_forward");
        _step = (delegate* unmanaged<nint, nint, int, byte*, int, int>)NativeLibrary.GetExport(shim, "sacmj_step");
        _name2id = (delegate* unmanaged<nint, int, byte*, int>)NativeLibrary.GetExport(shim, "sacmj_name2id");
    }

    public static int Init(string library, out string reason)
    {
        byte* err = stackalloc byte[ErrorBufferSize];
        err[0] = 0;
        fixed (byte* path = Utf8(library))
        {
            int version = _init(path, err, ErrorBufferSize);
            reason = version < 0 ? Text(err) : "";
            return version;
        }
    }

    /// <summary>Compiles an MJCF file; throws <see cref="MuJoCoModelException"/> naming <paramref name="modelName"/>.</summary>
    public static nint LoadXml(string file, string modelName)
    {
        byte* err = stackalloc byte[ErrorBufferSize];
        err[0] = 0;
        fixed (byte* path = Utf8(file))
        {
            var model = _loadXml(path, err, ErrorBufferSize);
            if (model == 0) throw new MuJoCoModelException(modelName, Text(err));
            return model;
        }
    }

    public static nint MakeData(nint model, string modelName)
    {
        byte* err = stackalloc byte[ErrorBufferSize];
        nint data = 0;
        if (_makeData(model, &data, err, ErrorBufferSize) != 0 || data == 0)
            throw new MuJoCoModelException(modelName, "mj_makeData failed: " + Text(err));
        return data;
    }

    public static void DeleteData(nint data) => _deleteData(data);

    public static void DeleteModel(nint model) => _deleteModel(model);

    /// <summary>mj_resetData; 0, or 1 with MuJoCo's error text in <paramref name="err"/>.</summary>
    public static int Reset(nint model, nint data, byte* err) => _reset(model, data, err, ErrorBufferSize);

    /// <summary>mj_forward; 0, or 1 with MuJoCo's error text in <paramref name="err"/>.</summary>
    public static int Forward(nint model, nint data, byte* err) => _forward(model, data, err, ErrorBufferSize);

    /// <summary><paramref name="frames"/> mj_step calls then mj_rnePostConstraint; 0, or 1 with the error text.</summary>
    public static int Step(nint model, nint data, int frames, byte* err) => _step(model, data, frames, err, ErrorBufferSize);

    public static int NameToId(nint model, int type, string name)
    {
        fixed (byte* n = Utf8(name)) return _name2id(model, type, n);
    }

    /// <summary>The NUL-terminated UTF-8 text in a shim buffer.</summary>
    public static string Text(byte* buffer) => Marshal.PtrToStringUTF8((nint)buffer) ?? "";

    static byte[] Utf8(string s)
    {
        var bytes = new byte[Encoding.UTF8.GetByteCount(s) + 1];
        Encoding.UTF8.GetBytes(s, bytes);
        return bytes;
    }
}
