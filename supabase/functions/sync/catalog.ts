/**
 * The sync function's `catalog` scope: every Polar product (archived ones included, every page of
 * `GET /v1/products/`, paced), stored in `public.polar_products` by `public.store_polar_products`
 * under the same clocks as the `product.*` webhooks. It keeps the price list current when
 * webhooks were lost, and fills it on a project that subscribed to product events late.
 *
 * @module
 */
import { productChange } from "../_polar/catalog.ts";
import type { PolarPacer } from "../_polar/polar_pacer.ts";

/** Products per page of `GET /v1/products/` (Polar's maximum). */
export const CATALOG_PAGE_SIZE = 100;

/** One page of Polar's product list. */
export interface ProductPage {
  /** The products. */
  items: unknown[];
  /** Polar's page count. */
  pagination: { max_page: number };
}

/** What {@linkcode createCatalogRefresh} depends on. */
export interface CatalogRefreshDependencies {
  /** `GET /v1/products/?page=…&limit=…`. */
  listProducts: (page: number, limit: number) => Promise<ProductPage>;
  /** `public.store_polar_products`. */
  store: (products: unknown[]) => Promise<{ stored: number; unchanged: number }>;
  /** Paces the Polar calls. */
  pacer: PolarPacer;
  /** A clock for the version of a product without dates; `Date` by default. */
  now?: () => Date;
}

/** What a catalog refresh did. */
export interface CatalogReport {
  /** Products Polar listed. */
  products: number;
  /** Products stored (new or newer than the stored ones). */
  stored: number;
  /** Products already current. */
  unchanged: number;
}

/**
 * Makes the refresh: reads every page, then stores them all in one call (a catalog is small).
 *
 * @param deps the product list, the store call and the pacer
 * @returns `refresh()`
 * @throws {InvalidCatalogError} from `refresh()` when Polar lists a product it cannot read
 * @example
 * ```ts
 * await createCatalogRefresh(deps)(); // { products: 3, stored: 3, unchanged: 0 }
 * ```
 */
export function createCatalogRefresh(
  deps: CatalogRefreshDependencies,
): () => Promise<CatalogReport> {
  const now = deps.now ?? (() => new Date());
  return async () => {
    const fallback = now().toISOString();
    const products: unknown[] = [];
    for (let page = 1, maxPage = 1; page <= maxPage; page++) {
      const answer = await deps.pacer(() => deps.listProducts(page, CATALOG_PAGE_SIZE));
      answer.items.forEach((item, index) => {
        products.push(
          productChange(
            item as Record<string, unknown>,
            fallback,
            `items[${index}] of page ${page}`,
          ),
        );
      });
      maxPage = answer.pagination.max_page;
    }
    const { stored, unchanged } = await deps.store(products);
    return { products: products.length, stored, unchanged };
  };
}
