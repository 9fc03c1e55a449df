from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from portraits.system import get_system
from vignette import InvalidStory


def new_story(request: HttpRequest) -> HttpResponse:
    """A form; posting it stores the story (its portrait is made in the background)."""
    if request.method == "POST":
        try:
            story = get_system().submit_story(
                title=request.POST.get("title", ""),
                body=request.POST.get("body", ""),
                image_generation_prompt=request.POST.get("prompt", ""),
            )
        except InvalidStory as error:
            return render(request, "portraits/new.html", {"error": str(error)}, status=400)
        return redirect("story", story_id=story.id)
    return render(request, "portraits/new.html", {})


def story_page(request: HttpRequest, story_id: str) -> HttpResponse:
    story = get_system().get_story(story_id)
    if story is None:
        raise Http404("no such story")
    return render(request, "portraits/story.html", {"story": story})


def portrait(request: HttpRequest, story_id: str) -> HttpResponse:
    system = get_system()
    story = system.get_story(story_id)
    if story is None or story.storage_id is None:
        raise Http404("no portrait yet")
    data, content_type = system.read_file(story.storage_id)
    return HttpResponse(data, content_type=content_type)
