/// <reference lib="dom" />
/**
 * What every part of the example page shares: an element by id, a function's error in words, and
 * a button that shows it is working while a request is out.
 *
 * @module
 */
import { FunctionsHttpError } from "@supabase/supabase-js";

/**
 * The page's element with this id.
 *
 * @param id the element's id
 * @returns the element
 * @example
 * ```ts
 * const form = element<HTMLFormElement>("signin");
 * ```
 */
export const element = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

/**
 * The error a function answered with, in words: its JSON `error`, else the client's message.
 *
 * @param error what supabase-js returned or threw
 * @returns the words to show
 * @example
 * ```ts
 * const { error } = await supabase.functions.invoke("seats", { body });
 * if (error) message.textContent = await describeError(error); // "All 3 seats are taken: …"
 * ```
 */
export async function describeError(error: Error): Promise<string> {
  if (error instanceof FunctionsHttpError) {
    const body = await error.context.clone().json().catch(() => null);
    if (typeof body?.error === "string") return body.error;
  }
  return error.message;
}

/**
 * Disables the button and shows that it is working until `work` settles; an error thrown by
 * `work` is shown in words in `shown`, which is emptied first.
 *
 * @param button the button clicked
 * @param label what it says meanwhile ("Opening portal…")
 * @param shown where an error's words go
 * @param work the request
 * @example
 * ```ts
 * await whileBusy(button, "Opening portal…", message, async () => { … });
 * ```
 */
export async function whileBusy(
  button: HTMLButtonElement,
  label: string,
  shown: HTMLElement,
  work: () => Promise<void>,
): Promise<void> {
  const idle = button.textContent;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  button.textContent = label;
  shown.textContent = "";
  try {
    await work();
  } catch (error) {
    shown.textContent = await describeError(error as Error);
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    button.textContent = idle;
  }
}
