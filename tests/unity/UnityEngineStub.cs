// The few UnityEngine types the package's code uses, for compiling it with Mono's mcs where
// no Unity editor exists: a type check of Fwasr.cs with Unity's defines and of the sample, not
// a run. Signatures as in Unity's scripting reference.
using System;

namespace UnityEngine
{
    public class Object { }
    public class Component : Object { }
    public class Behaviour : Component { }
    public class MonoBehaviour : Behaviour { }

    public sealed class AudioClip : Object
    {
        public int samples { get { return 0; } }
        public int channels { get { return 1; } }
        public int frequency { get { return 16000; } }
        public bool GetData(float[] data, int offsetSamples) { return true; }
    }

    public static class Microphone
    {
        public static AudioClip Start(string deviceName, bool loop, int lengthSec, int frequency) { return new AudioClip(); }
        public static int GetPosition(string deviceName) { return 0; }
        public static void End(string deviceName) { }
    }

    public static class GUILayout
    {
        public static void Label(string text, params object[] options) { }
    }

    public static class Debug
    {
        public static void Log(object message) { }
        public static void LogWarning(object message) { }
    }
}

namespace AOT
{
    [AttributeUsage(AttributeTargets.Method)]
    public sealed class MonoPInvokeCallbackAttribute : Attribute
    {
        public MonoPInvokeCallbackAttribute(Type type) { }
    }
}
